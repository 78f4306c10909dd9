// Elementwise ops, column blocks and sum_of_squares: device against CPU. Sizes are not multiples
// of 32 or of any block size, and the largest needs many blocks.

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

const std::vector<std::int64_t> kSizes = {1, 31, 1000, 4097, 300 * 1000 + 7};

TEST_CASE("parity: add, add_inplace, scale_inplace") {
  std::mt19937 rng(10);
  for (std::int64_t n : kSizes) {
    CAPTURE(n);
    Twin a = random_twin({n}, rng, -4.0f, 4.0f);
    Twin b = random_twin({n}, rng, -4.0f, 4.0f);
    Twin out = filled_twin({n}, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.add(out[side], a[side], b[side]); });
    check_parity(out, tolerance::kExact, "add");
    on_both([&](Backend& backend, Side side) { backend.add(a[side], a[side], b[side]); });  // out aliases a
    check_parity(a, tolerance::kExact, "add with out aliasing a");
    on_both([&](Backend& backend, Side side) { backend.add_inplace(b[side], out[side]); });
    check_parity(b, tolerance::kExact, "add_inplace");
    for (float factor : {-1.7f, 0.0f, 3.0f}) {
      on_both([&](Backend& backend, Side side) { backend.scale_inplace(b[side], factor); });
      check_parity(b, tolerance::kExact, "scale_inplace by " + std::to_string(factor));
    }
  }
}

// acc += factor * value: the CPU rounds the product, then the sum (-ffp-contract=off); nvcc fuses
// the two into one fma by default. Either is exact for its formula; nothing else is.
TEST_CASE("parity: add_scaled is the CPU's result or the fused multiply-add, bit for bit") {
  std::mt19937 rng(11);
  for (std::int64_t n : kSizes) {
    CAPTURE(n);
    const auto initial = test::random_values(n, rng, -2.0f, 2.0f);
    const auto value = test::random_values(n, rng, -2.0f, 2.0f);
    Twin accumulator = twin({n}, initial);
    Twin added = twin({n}, value);
    const float factor = 0.3712f;
    on_both([&](Backend& backend, Side side) { backend.add_scaled(accumulator[side], added[side], factor); });
    const auto device = values(accumulator, Side::device);
    const auto reference = values(accumulator, Side::reference);
    std::size_t failures = 0, first = 0;
    for (std::size_t i = 0; i < device.size(); ++i) {
      const float fused = std::fma(factor, value[i], initial[i]);
      if (!same_value_bits(device[i], reference[i]) && !same_value_bits(device[i], fused) && failures++ == 0) first = i;
    }
    INFO("add_scaled: " << failures << " elements are neither the CPU's nor fma's; first [" << first << "]: device "
                        << device[first] << ", cpu " << reference[first]);
    CHECK(failures == 0);
  }
}

TEST_CASE("parity: add_bias") {
  std::mt19937 rng(12);
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 3, 33}, Shape{300, 1000}, Shape{2, 4099}}) {
    CAPTURE(shape_to_string(shape));
    Twin out = random_twin(shape, rng);
    Twin bias = random_twin({shape.back()}, rng);
    on_both([&](Backend& backend, Side side) { backend.add_bias(out[side], bias[side]); });
    check_parity(out, tolerance::kExact, "add_bias");
  }
}

// Any f32 bit pattern (NaNs, infinities, subnormals, values beyond f16's range, ties), plus the
// edges by name.
std::vector<float> round_to_inputs(std::int64_t count, std::mt19937& rng) {
  const auto bits = random_integers<std::uint32_t>(count, 0, 0xFFFFFFFFLL, rng);
  std::vector<float> values;
  for (std::uint32_t pattern : bits) values.push_back(std::bit_cast<float>(pattern));
  // Mostly ordinary magnitudes too, where most rounding happens.
  const auto ordinary = test::random_values(count, rng, -70000.0f, 70000.0f);
  values.insert(values.end(), ordinary.begin(), ordinary.end());
  const float infinity = std::numeric_limits<float>::infinity();
  for (float edge : {0.0f, -0.0f, infinity, -infinity, std::nanf(""), 65504.0f, 65519.99f, 65520.0f, -65520.0f,
                     0x1.0p-24f, 0x1.8p-25f, 0x1.0p-25f, 0x1.0p-26f, 0x1.0p-14f, 0x1.ffcp-15f, 1.0f + 0x1.0p-8f,
                     1.0f + 0x3.0p-8f, 1.0f + 0x1.0p-11f, 1.0f + 0x3.0p-11f, 0x1.fffffep127f, 0x1.0p-149f,
                     -0x1.0p-149f, 0x1.0p-126f}) {
    values.push_back(edge);
  }
  return values;
}

TEST_CASE("parity: round_to bf16 and f16") {
  std::mt19937 rng(13);
  for (DType dtype : {DType::bf16, DType::f16}) {
    CAPTURE(sdk::to_string(dtype));
    const auto inputs = round_to_inputs(150001, rng);
    Twin tensor = twin({static_cast<std::int64_t>(inputs.size())}, inputs);
    on_both([&](Backend& backend, Side side) { backend.round_to(tensor[side], dtype); });
    check_parity(tensor, tolerance::kExact, "round_to " + std::string(sdk::to_string(dtype)));
  }
}

TEST_CASE("parity: dropout masks and values match the CPU's") {
  std::mt19937 rng(14);
  for (std::int64_t n : kSizes) {
    for (float probability : {0.0f, 0.1f, 0.5f, 0.9f}) {
      for (std::uint64_t seed : {std::uint64_t{1}, std::uint64_t{0xDEADBEEF12345ULL}}) {
        CAPTURE(n);
        CAPTURE(probability);
        CAPTURE(seed);
        Twin inp = random_twin({n}, rng, -3.0f, 3.0f);
        Twin out = filled_twin({n}, std::nanf(""));
        on_both([&](Backend& backend, Side side) { backend.dropout(out[side], inp[side], probability, seed); });
        check_parity(out, tolerance::kExact, "dropout");
        on_both([&](Backend& backend, Side side) { backend.dropout(inp[side], inp[side], probability, seed + 1); });
        check_parity(inp, tolerance::kExact, "dropout in place");
      }
    }
  }
}

TEST_CASE("parity: sum_of_squares") {
  std::mt19937 rng(15);
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{300007}, std::int64_t{3000017}}) {
    CAPTURE(n);
    Twin tensor = random_twin({n}, rng, -100.0f, 100.0f);
    const double device = device_backend().sum_of_squares(tensor.device);
    const double reference = reference_backend().sum_of_squares(tensor.reference);
    INFO("device " << device << ", cpu " << reference << " (relative difference "
                   << std::abs(device - reference) / reference << ")");
    CHECK(std::abs(device - reference) <= tolerance::kSumOfSquaresRelative * reference);
  }
}

TEST_CASE("parity: copy_columns and accumulate_columns") {
  std::mt19937 rng(16);
  struct Case {
    Shape wide;
    std::int64_t width, first;
  };
  for (const Case& c : {Case{{300, 3000}, 1000, 0}, Case{{300, 3000}, 1000, 1000}, Case{{2, 150, 3000}, 1000, 2000},
                        Case{{17, 35}, 11, 13}, Case{{1, 1}, 1, 0}, Case{{5, 4099}, 4099, 0}}) {
    CAPTURE(shape_to_string(c.wide));
    CAPTURE(c.first);
    const std::int64_t rows = shape_elements(c.wide) / c.wide.back();
    Twin wide = random_twin(c.wide, rng);
    Twin narrow = filled_twin({rows, c.width}, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.copy_columns(narrow[side], wide[side], c.first); });
    check_parity(narrow, tolerance::kExact, "copy_columns");
    Twin gradient = random_twin({rows, c.width}, rng);
    on_both([&](Backend& backend, Side side) { backend.accumulate_columns(wide[side], gradient[side], c.first); });
    check_parity(wide, tolerance::kExact, "accumulate_columns (the whole wide tensor)");
  }
}

}  // namespace
}  // namespace fthost::backend::parity
