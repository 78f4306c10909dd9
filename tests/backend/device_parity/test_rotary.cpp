// Rotary position embedding, both directions: device against CPU.

#include <cmath>
#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

// Llama's inverse frequencies theta^(-2i / D), in f32 as the model computes them.
std::vector<float> inverse_frequencies(std::int64_t head_size, double theta) {
  std::vector<float> frequencies;
  for (std::int64_t i = 0; i < head_size / 2; ++i) {
    frequencies.push_back(static_cast<float>(
        1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_size))));
  }
  return frequencies;
}

TEST_CASE("parity: rotary_inplace forward and inverse") {
  std::mt19937 rng(50);
  constexpr std::int64_t B = 2, T = 150, heads = 4;
  for (std::int64_t D : {std::int64_t{8}, std::int64_t{64}, std::int64_t{128}}) {
    for (RotaryDirection direction : {RotaryDirection::forward, RotaryDirection::inverse}) {
      CAPTURE(D);
      CAPTURE(direction == RotaryDirection::forward);
      // Positions 0..T-1 in the first row; in the second, a packed document's restart and long
      // positions (angles of thousands of radians).
      std::vector<std::int32_t> positions;
      for (std::int64_t t = 0; t < T; ++t) positions.push_back(static_cast<std::int32_t>(t));
      for (std::int64_t t = 0; t < T; ++t) {
        positions.push_back(static_cast<std::int32_t>(t < 40 ? t : t < 90 ? t - 40 : 8000 + 7 * t));
      }
      Twin position = twin({B, T}, positions);
      Twin inv_freq = twin({D / 2}, inverse_frequencies(D, 500000.0));
      Twin x = random_twin({B, T, heads, D}, rng);
      on_both([&](Backend& backend, Side side) {
        backend.rotary_inplace(x[side], position[side], inv_freq[side], direction);
      });
      check_parity(x, tolerance::kRotary, "rotary_inplace");
    }
  }
  // Odd row count and a single pair per head.
  Twin x = random_twin({7, 3, 2}, rng);
  Twin position = twin({7}, random_integers(7, 0, 100000, rng));
  Twin inv_freq = twin({1}, std::vector<float>{0.75f});
  on_both([&](Backend& backend, Side side) {
    backend.rotary_inplace(x[side], position[side], inv_freq[side], RotaryDirection::forward);
  });
  check_parity(x, tolerance::kRotary, "rotary_inplace, D = 2");
}

}  // namespace
}  // namespace fthost::backend::parity
