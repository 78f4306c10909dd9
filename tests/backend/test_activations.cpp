// SwiGLU and gelu_new against double references and finite differences.

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

constexpr std::int64_t N = 7, F = 13;

Vector reference_swiglu(const Vector& gate, const Vector& up) {
  Vector out(gate.size());
  for (std::size_t i = 0; i < gate.size(); ++i) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return out;
}

Vector reference_gelu(const Vector& x) {
  const double k = std::sqrt(2.0 / M_PI);
  Vector out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = 0.5 * x[i] * (1.0 + std::tanh(k * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
  }
  return out;
}

TEST_CASE("swiglu: forward, gradients, accumulation, skipped outputs") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(50);
  const auto gate = test::random_values(N * F, rng, -6.0f, 6.0f);
  const auto up = test::random_values(N * F, rng, -2.0f, 2.0f);
  const auto projection = test::random_values(N * F, rng);
  Tensor t_gate = tensor_from(*backend, {N, F}, gate);
  Tensor t_up = tensor_from(*backend, {N, F}, up);
  Tensor out = backend->empty(DType::f32, {N, F});
  backend->swiglu_forward(out, t_gate, t_up);
  const Vector g = to_double(gate), u = to_double(up), r = to_double(projection);
  test::check_close(values_of(*backend, out), reference_swiglu(g, u), test::kForwardTolerance, "swiglu out");

  Tensor dout = tensor_from(*backend, {N, F}, projection);
  Tensor dgate = backend->zeros(DType::f32, {N, F});
  Tensor dup = backend->zeros(DType::f32, {N, F});
  backend->swiglu_backward(dgate, dup, dout, t_gate, t_up);
  const auto g_gate = values_of(*backend, dgate), g_up = values_of(*backend, dup);
  test::check_close(g_gate, test::numeric_gradient([&](const Vector& x) { return reference_swiglu(x, u); }, g, r),
                    test::kGradientTolerance, "dgate");
  test::check_close(g_up, test::numeric_gradient([&](const Vector& x) { return reference_swiglu(g, x); }, u, r),
                    test::kGradientTolerance, "dup");

  backend->swiglu_backward(dgate, dup, dout, t_gate, t_up);
  test::check_close(values_of(*backend, dgate), test::scaled(g_gate, 2.0), 1e-6, "dgate accumulates");
  test::check_close(values_of(*backend, dup), test::scaled(g_up, 2.0), 1e-6, "dup accumulates");
  Tensor dup_only = backend->zeros(DType::f32, {N, F});
  backend->swiglu_backward(Tensor(), dup_only, dout, t_gate, t_up);
  CHECK(test::same_bits(values_of(*backend, dup_only), g_up));

  // Saturated gates stay finite.
  Tensor extreme = tensor_from(*backend, {2}, std::vector<float>{-200.0f, 200.0f});
  Tensor ones = tensor_from(*backend, {2}, std::vector<float>{1.0f, 1.0f});
  Tensor extreme_out = backend->empty(DType::f32, {2});
  backend->swiglu_forward(extreme_out, extreme, ones);
  CHECK(values_of(*backend, extreme_out) == std::vector<float>{-0.0f, 200.0f});
  Tensor extreme_grad = backend->zeros(DType::f32, {2});
  backend->swiglu_backward(extreme_grad, Tensor(), ones, extreme, ones);
  CHECK(values_of(*backend, extreme_grad) == std::vector<float>{0.0f, 1.0f});

  CHECK_THROWS_AS(backend->swiglu_forward(out, t_gate, backend->empty(DType::f32, {N, F + 1})), std::logic_error);
}

TEST_CASE("gelu_new: forward, gradient, accumulation, skipped output") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(51);
  const auto inp = test::random_values(N * F, rng, -5.0f, 5.0f);
  const auto projection = test::random_values(N * F, rng);
  Tensor t_inp = tensor_from(*backend, {N, F}, inp);
  Tensor out = backend->empty(DType::f32, {N, F});
  backend->gelu_forward(out, t_inp);
  const Vector x = to_double(inp), r = to_double(projection);
  test::check_close(values_of(*backend, out), reference_gelu(x), test::kForwardTolerance, "gelu out");

  Tensor dout = tensor_from(*backend, {N, F}, projection);
  Tensor dinp = backend->zeros(DType::f32, {N, F});
  backend->gelu_backward(dinp, dout, t_inp);
  const auto g_inp = values_of(*backend, dinp);
  test::check_close(g_inp, test::numeric_gradient(reference_gelu, x, r), test::kGradientTolerance, "gelu dinp");
  backend->gelu_backward(dinp, dout, t_inp);
  test::check_close(values_of(*backend, dinp), test::scaled(g_inp, 2.0), 1e-6, "gelu dinp accumulates");
  backend->gelu_backward(Tensor(), dout, t_inp);  // nothing wanted, nothing done

  CHECK_THROWS_AS(backend->gelu_forward(backend->empty(DType::f32, {N}), t_inp), std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
