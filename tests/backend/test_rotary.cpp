// Rotary embedding: Hugging Face's rotate_half convention, the inverse, and the gradient.

#include <cmath>
#include <random>
#include <stdexcept>

#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

using test::tensor_from;
using test::to_double;
using test::values_of;
using test::Vector;

constexpr std::int64_t N = 7, heads = 3, D = 8, half = D / 2;

std::vector<float> llama_inv_freq(double theta) {
  std::vector<float> inv_freq(half);
  for (std::int64_t i = 0; i < half; ++i) {
    inv_freq[static_cast<std::size_t>(i)] =
        static_cast<float>(1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(D)));
  }
  return inv_freq;
}

// transformers' LlamaRotaryEmbedding + apply_rotary_pos_emb: freqs = position * inv_freq in f32
// (the f32 matmul), then q * cos + rotate_half(q) * sin, here with cos and sin in double.
Vector reference_rotary(const Vector& x, const std::vector<std::int32_t>& positions,
                        const std::vector<float>& inv_freq, double sign) {
  Vector y(x.size());
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(positions[static_cast<std::size_t>(n)]) * inv_freq[static_cast<std::size_t>(i)];
      const double c = std::cos(static_cast<double>(angle)), s = sign * std::sin(static_cast<double>(angle));
      for (std::int64_t h = 0; h < heads; ++h) {
        const auto first = static_cast<std::size_t>((n * heads + h) * D + i);
        const auto second = first + static_cast<std::size_t>(half);
        y[first] = x[first] * c - x[second] * s;
        y[second] = x[second] * c + x[first] * s;
      }
    }
  }
  return y;
}

TEST_CASE("rotary: forward matches the rotate_half convention, the inverse undoes it and is the gradient") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(30);
  const std::vector<std::int32_t> positions{0, 1, 2, 5, 17, 300, 4095};
  const auto inv_freq = llama_inv_freq(10000.0);
  const auto values = test::random_values(N * heads * D, rng);
  Tensor t_positions = tensor_from(*backend, {N}, positions);
  Tensor t_inv_freq = tensor_from(*backend, {half}, inv_freq);

  Tensor x = tensor_from(*backend, {N, heads, D}, values);
  backend->rotary_inplace(x, t_positions, t_inv_freq, RotaryDirection::forward);
  const auto rotated = values_of(*backend, x);
  // f32 cos/sin of the same f32 angle as PyTorch: within a few ulps of the double reference.
  test::check_close(rotated, reference_rotary(to_double(values), positions, inv_freq, 1.0), 1e-6, "rotary forward");

  backend->rotary_inplace(x, t_positions, t_inv_freq, RotaryDirection::inverse);
  test::check_close(values_of(*backend, x), values, 1e-6, "inverse of forward");

  // Backward of y = R x is dx = R^T dy: the inverse direction applied to dout.
  const auto projection = test::random_values(N * heads * D, rng);
  Tensor gradient = tensor_from(*backend, {N, heads, D}, projection);
  backend->rotary_inplace(gradient, t_positions, t_inv_freq, RotaryDirection::inverse);
  test::check_close(values_of(*backend, gradient),
                    test::numeric_gradient(
                        [&](const Vector& v) { return reference_rotary(v, positions, inv_freq, 1.0); },
                        to_double(values), to_double(projection)),
                    test::kGradientTolerance, "rotary gradient");

  // [B, T, heads, D] is N = B*T rows.
  Tensor four_d = tensor_from(*backend, {1, N, heads, D}, values);
  backend->rotary_inplace(four_d, t_positions, t_inv_freq, RotaryDirection::forward);
  CHECK(test::same_bits(values_of(*backend, four_d), rotated));

  CHECK_THROWS_AS(backend->rotary_inplace(x, t_positions, tensor_from(*backend, {half + 1}, std::vector<float>(half + 1)),
                                          RotaryDirection::forward),
                  std::logic_error);
  CHECK_THROWS_AS(backend->rotary_inplace(backend->empty(DType::f32, {N, heads, D - 1}), t_positions, t_inv_freq,
                                          RotaryDirection::forward),
                  std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
