// RMSNorm and LayerNorm, forward and backward: device against CPU. The backward passes of both
// backends read the CPU's saved statistics, so that their comparison does not inherit the
// forward's rounding differences.

#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

// [..., C] inputs: single elements, odd sizes, 300 x 1000 (many blocks of rows), and rows wider
// than any one block's threads.
const std::vector<Shape> kNormShapes = {{1, 1}, {3, 7}, {17, 33}, {2, 150, 1000}, {2, 8193}};

// Inputs with one all-zero row (rstd = 1 / sqrt(eps)) and, for LayerNorm, a mean away from 0.
Twin norm_input(const Shape& shape, std::mt19937& rng, float offset) {
  auto values = test::random_values(shape_elements(shape), rng, -2.0f + offset, 2.0f + offset);
  if (shape_elements(shape) > shape.back()) std::fill(values.begin(), values.begin() + shape.back(), 0.0f);
  return twin(shape, values);
}

// A CPU output uploaded to both backends.
Twin reference_copy(const Twin& tensor) { return twin(tensor.reference.shape(), values(tensor, Side::reference)); }

TEST_CASE("parity: rmsnorm forward and backward") {
  std::mt19937 rng(30);
  for (const Shape& shape : kNormShapes) {
    for (float eps : {1e-5f, 1e-6f}) {
      CAPTURE(shape_to_string(shape));
      CAPTURE(eps);
      const std::int64_t C = shape.back(), N = shape_elements(shape) / C;
      Twin inp = norm_input(shape, rng, 0.0f);
      Twin weight = random_twin({C}, rng, -1.5f, 1.5f);
      Twin out = filled_twin(shape, std::nanf(""));
      Twin rstd = filled_twin({N}, std::nanf(""));
      on_both([&](Backend& backend, Side side) {
        backend.rmsnorm_forward(out[side], rstd[side], inp[side], weight[side], eps);
      });
      check_parity(out, tolerance::kNormStatistics, "rmsnorm_forward out");
      check_parity(rstd, tolerance::kNormStatistics, "rmsnorm_forward rstd");

      const Twin saved_rstd = reference_copy(rstd);
      Twin dout = random_twin(shape, rng);
      Twin dinp = random_twin(shape, rng);
      Twin dweight = random_twin({C}, rng);
      on_both([&](Backend& backend, Side side) {
        backend.rmsnorm_backward(dinp[side], dweight[side], dout[side], inp[side], weight[side], saved_rstd[side]);
      });
      check_parity(dinp, tolerance::kNormGradient, "rmsnorm_backward dinp (accumulated)");
      check_parity(dweight, tolerance::kNormGradient, "rmsnorm_backward dweight (accumulated)");

      const Twin none = not_wanted();
      on_both([&](Backend& backend, Side side) {
        backend.rmsnorm_backward(dinp[side], none[side], dout[side], inp[side], weight[side], saved_rstd[side]);
        backend.rmsnorm_backward(none[side], dweight[side], dout[side], inp[side], weight[side], saved_rstd[side]);
        backend.rmsnorm_backward(none[side], none[side], dout[side], inp[side], weight[side], saved_rstd[side]);
      });
      check_parity(dinp, tolerance::kNormGradient, "rmsnorm_backward dinp alone");
      check_parity(dweight, tolerance::kNormGradient, "rmsnorm_backward dweight alone");
    }
  }
}

TEST_CASE("parity: layernorm forward and backward") {
  std::mt19937 rng(31);
  for (const Shape& shape : kNormShapes) {
    for (bool with_bias : {true, false}) {
      CAPTURE(shape_to_string(shape));
      CAPTURE(with_bias);
      const std::int64_t C = shape.back(), N = shape_elements(shape) / C;
      Twin inp = norm_input(shape, rng, 0.5f);
      Twin weight = random_twin({C}, rng, -1.5f, 1.5f);
      const Twin bias = with_bias ? random_twin({C}, rng) : not_wanted();
      Twin out = filled_twin(shape, std::nanf(""));
      Twin mean = filled_twin({N}, std::nanf(""));
      Twin rstd = filled_twin({N}, std::nanf(""));
      on_both([&](Backend& backend, Side side) {
        backend.layernorm_forward(out[side], mean[side], rstd[side], inp[side], weight[side], bias[side], 1e-5f);
      });
      check_parity(out, tolerance::kLayernormCentred, "layernorm_forward out");
      check_parity(mean, tolerance::kLayernormCentred, "layernorm_forward mean");
      check_parity(rstd, tolerance::kNormStatistics, "layernorm_forward rstd");

      const Twin saved_mean = reference_copy(mean);
      const Twin saved_rstd = reference_copy(rstd);
      Twin dout = random_twin(shape, rng);
      Twin dinp = random_twin(shape, rng);
      Twin dweight = random_twin({C}, rng);
      Twin dbias = random_twin({C}, rng);
      on_both([&](Backend& backend, Side side) {
        backend.layernorm_backward(dinp[side], dweight[side], dbias[side], dout[side], inp[side], weight[side],
                                   saved_mean[side], saved_rstd[side]);
      });
      check_parity(dinp, tolerance::kNormGradient, "layernorm_backward dinp (accumulated)");
      check_parity(dweight, tolerance::kNormGradient, "layernorm_backward dweight (accumulated)");
      check_parity(dbias, tolerance::kNormGradient, "layernorm_backward dbias (accumulated)");

      const Twin none = not_wanted();
      on_both([&](Backend& backend, Side side) {
        backend.layernorm_backward(dinp[side], none[side], none[side], dout[side], inp[side], weight[side],
                                   saved_mean[side], saved_rstd[side]);
        backend.layernorm_backward(none[side], dweight[side], dbias[side], dout[side], inp[side], weight[side],
                                   saved_mean[side], saved_rstd[side]);
        backend.layernorm_backward(none[side], none[side], dbias[side], dout[side], inp[side], weight[side],
                                   saved_mean[side], saved_rstd[side]);
        backend.layernorm_backward(none[side], none[side], none[side], dout[side], inp[side], weight[side],
                                   saved_mean[side], saved_rstd[side]);
      });
      check_parity(dinp, tolerance::kNormGradient, "layernorm_backward dinp alone");
      check_parity(dweight, tolerance::kNormGradient, "layernorm_backward dweight with dbias");
      check_parity(dbias, tolerance::kNormGradient, "layernorm_backward dbias (twice more)");
    }
  }
}

}  // namespace
}  // namespace fthost::backend::parity
