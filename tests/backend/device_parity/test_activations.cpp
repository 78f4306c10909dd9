// SwiGLU and gelu_new, forward and backward: device against CPU.

#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

const std::vector<Shape> kActivationShapes = {{1}, {1000}, {7, 3, 33}, {300, 1001}};

TEST_CASE("parity: swiglu forward and backward") {
  std::mt19937 rng(40);
  for (const Shape& shape : kActivationShapes) {
    CAPTURE(shape_to_string(shape));
    // gate over the range where silu turns from ~0 to ~x, including e^-gate large.
    Twin gate = random_twin(shape, rng, -10.0f, 10.0f);
    Twin up = random_twin(shape, rng, -2.0f, 2.0f);
    Twin out = filled_twin(shape, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.swiglu_forward(out[side], gate[side], up[side]); });
    check_parity(out, tolerance::kSwigluForward, "swiglu_forward");

    Twin dout = random_twin(shape, rng);
    Twin dgate = random_twin(shape, rng);
    Twin dup = random_twin(shape, rng);
    on_both([&](Backend& backend, Side side) {
      backend.swiglu_backward(dgate[side], dup[side], dout[side], gate[side], up[side]);
    });
    check_parity(dgate, tolerance::kActivation, "swiglu_backward dgate (accumulated)");
    check_parity(dup, tolerance::kActivation, "swiglu_backward dup (accumulated)");

    const Twin none = not_wanted();
    on_both([&](Backend& backend, Side side) {
      backend.swiglu_backward(dgate[side], none[side], dout[side], gate[side], up[side]);
      backend.swiglu_backward(none[side], dup[side], dout[side], gate[side], up[side]);
      backend.swiglu_backward(none[side], none[side], dout[side], gate[side], up[side]);
    });
    check_parity(dgate, tolerance::kActivation, "swiglu_backward dgate alone");
    check_parity(dup, tolerance::kActivation, "swiglu_backward dup alone");
  }
}

TEST_CASE("parity: gelu forward and backward") {
  std::mt19937 rng(41);
  for (const Shape& shape : kActivationShapes) {
    CAPTURE(shape_to_string(shape));
    Twin inp = random_twin(shape, rng, -8.0f, 8.0f);
    Twin out = filled_twin(shape, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.gelu_forward(out[side], inp[side]); });
    check_parity(out, tolerance::kActivation, "gelu_forward");

    Twin dout = random_twin(shape, rng);
    Twin dinp = random_twin(shape, rng);
    on_both([&](Backend& backend, Side side) {
      backend.gelu_backward(dinp[side], dout[side], inp[side]);
      backend.gelu_backward(Tensor(), dout[side], inp[side]);  // not wanted: nothing to do
    });
    check_parity(dinp, tolerance::kGeluGradient, "gelu_backward dinp (accumulated)");
  }
}

}  // namespace
}  // namespace fthost::backend::parity
