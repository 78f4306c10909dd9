// RMSNorm and LayerNorm against double references and finite differences.

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

constexpr std::int64_t N = 7, C = 13;
constexpr float kEps = 1e-5f;

// out = x / sqrt(mean(x^2) + eps) * w; rstd appended when asked
Vector reference_rmsnorm(const Vector& x, const Vector& w, Vector* rstd = nullptr) {
  Vector out(x.size());
  for (std::int64_t n = 0; n < N; ++n) {
    double mean_square = 0.0;
    for (std::int64_t c = 0; c < C; ++c) mean_square += x[static_cast<std::size_t>(n * C + c)] * x[static_cast<std::size_t>(n * C + c)];
    mean_square /= C;
    const double r = 1.0 / std::sqrt(mean_square + static_cast<double>(kEps));
    if (rstd != nullptr) rstd->push_back(r);
    for (std::int64_t c = 0; c < C; ++c) {
      out[static_cast<std::size_t>(n * C + c)] = x[static_cast<std::size_t>(n * C + c)] * r * w[static_cast<std::size_t>(c)];
    }
  }
  return out;
}

// out = (x - mean) / sqrt(var + eps) * w + b, biased variance
Vector reference_layernorm(const Vector& x, const Vector& w, const Vector& b, Vector* mean_out = nullptr,
                           Vector* rstd_out = nullptr) {
  Vector out(x.size());
  for (std::int64_t n = 0; n < N; ++n) {
    double mean = 0.0, variance = 0.0;
    for (std::int64_t c = 0; c < C; ++c) mean += x[static_cast<std::size_t>(n * C + c)];
    mean /= C;
    for (std::int64_t c = 0; c < C; ++c) {
      const double d = x[static_cast<std::size_t>(n * C + c)] - mean;
      variance += d * d;
    }
    variance /= C;
    const double r = 1.0 / std::sqrt(variance + static_cast<double>(kEps));
    if (mean_out != nullptr) mean_out->push_back(mean);
    if (rstd_out != nullptr) rstd_out->push_back(r);
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(n * C + c);
      out[i] = (x[i] - mean) * r * w[static_cast<std::size_t>(c)] + b[static_cast<std::size_t>(c)];
    }
  }
  return out;
}

TEST_CASE("rmsnorm: forward, rstd, gradients, accumulation, skipped outputs") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(20);
  const auto inp = test::random_values(N * C, rng, -2.0f, 2.0f);
  const auto weight = test::random_values(C, rng, 0.5f, 1.5f);
  const auto projection = test::random_values(N * C, rng);
  Tensor t_inp = tensor_from(*backend, {N, C}, inp);
  Tensor t_weight = tensor_from(*backend, {C}, weight);
  Tensor out = backend->empty(DType::f32, {N, C});
  Tensor rstd = backend->empty(DType::f32, {N});
  backend->rmsnorm_forward(out, rstd, t_inp, t_weight, kEps);
  Vector expected_rstd;
  const Vector x = to_double(inp), w = to_double(weight), r = to_double(projection);
  test::check_close(values_of(*backend, out), reference_rmsnorm(x, w, &expected_rstd), test::kForwardTolerance,
                    "rmsnorm out");
  test::check_close(values_of(*backend, rstd), expected_rstd, test::kForwardTolerance, "rmsnorm rstd");

  Tensor dout = tensor_from(*backend, {N, C}, projection);
  Tensor dinp = backend->zeros(DType::f32, {N, C});
  Tensor dweight = backend->zeros(DType::f32, {C});
  backend->rmsnorm_backward(dinp, dweight, dout, t_inp, t_weight, rstd);
  const auto g_inp = values_of(*backend, dinp), g_weight = values_of(*backend, dweight);
  test::check_close(g_inp, test::numeric_gradient([&](const Vector& v) { return reference_rmsnorm(v, w); }, x, r),
                    test::kGradientTolerance, "rmsnorm dinp");
  test::check_close(g_weight, test::numeric_gradient([&](const Vector& v) { return reference_rmsnorm(x, v); }, w, r),
                    test::kGradientTolerance, "rmsnorm dweight");

  backend->rmsnorm_backward(dinp, dweight, dout, t_inp, t_weight, rstd);
  test::check_close(values_of(*backend, dinp), test::scaled(g_inp, 2.0), 1e-6, "rmsnorm dinp accumulates");
  test::check_close(values_of(*backend, dweight), test::scaled(g_weight, 2.0), 1e-6, "rmsnorm dweight accumulates");

  Tensor dinp_only = backend->zeros(DType::f32, {N, C});
  backend->rmsnorm_backward(dinp_only, Tensor(), dout, t_inp, t_weight, rstd);
  CHECK(test::same_bits(values_of(*backend, dinp_only), g_inp));
  Tensor dweight_only = backend->zeros(DType::f32, {C});
  backend->rmsnorm_backward(Tensor(), dweight_only, dout, t_inp, t_weight, rstd);
  CHECK(test::same_bits(values_of(*backend, dweight_only), g_weight));

  CHECK_THROWS_AS(backend->rmsnorm_forward(out, rstd, t_inp, backend->empty(DType::f32, {C - 1}), kEps),
                  std::logic_error);
  CHECK_THROWS_AS(backend->rmsnorm_forward(out, backend->empty(DType::f32, {N + 1}), t_inp, t_weight, kEps),
                  std::logic_error);
  CHECK_THROWS_AS(backend->rmsnorm_forward(out, rstd, t_inp, t_weight, -1.0f), std::logic_error);
}

TEST_CASE("layernorm: forward, mean and rstd, gradients, accumulation, skipped outputs") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(21);
  // An offset mean: the variance must not cancel.
  const auto inp = test::random_values(N * C, rng, 3.0f, 5.0f);
  const auto weight = test::random_values(C, rng, 0.5f, 1.5f);
  const auto bias = test::random_values(C, rng);
  const auto projection = test::random_values(N * C, rng);
  Tensor t_inp = tensor_from(*backend, {N, C}, inp);
  Tensor t_weight = tensor_from(*backend, {C}, weight);
  Tensor t_bias = tensor_from(*backend, {C}, bias);
  Tensor out = backend->empty(DType::f32, {N, C});
  Tensor mean = backend->empty(DType::f32, {N});
  Tensor rstd = backend->empty(DType::f32, {N});
  backend->layernorm_forward(out, mean, rstd, t_inp, t_weight, t_bias, kEps);
  const Vector x = to_double(inp), w = to_double(weight), b = to_double(bias), r = to_double(projection);
  Vector expected_mean, expected_rstd;
  test::check_close(values_of(*backend, out), reference_layernorm(x, w, b, &expected_mean, &expected_rstd),
                    test::kForwardTolerance, "layernorm out");
  test::check_close(values_of(*backend, mean), expected_mean, test::kForwardTolerance, "layernorm mean");
  test::check_close(values_of(*backend, rstd), expected_rstd, test::kForwardTolerance, "layernorm rstd");

  Tensor dout = tensor_from(*backend, {N, C}, projection);
  Tensor dinp = backend->zeros(DType::f32, {N, C});
  Tensor dweight = backend->zeros(DType::f32, {C});
  Tensor dbias = backend->zeros(DType::f32, {C});
  backend->layernorm_backward(dinp, dweight, dbias, dout, t_inp, t_weight, mean, rstd);
  const auto g_inp = values_of(*backend, dinp), g_weight = values_of(*backend, dweight),
             g_bias = values_of(*backend, dbias);
  test::check_close(g_inp,
                    test::numeric_gradient([&](const Vector& v) { return reference_layernorm(v, w, b); }, x, r),
                    test::kGradientTolerance, "layernorm dinp");
  test::check_close(g_weight,
                    test::numeric_gradient([&](const Vector& v) { return reference_layernorm(x, v, b); }, w, r),
                    test::kGradientTolerance, "layernorm dweight");
  test::check_close(g_bias,
                    test::numeric_gradient([&](const Vector& v) { return reference_layernorm(x, w, v); }, b, r),
                    test::kGradientTolerance, "layernorm dbias");

  backend->layernorm_backward(dinp, dweight, dbias, dout, t_inp, t_weight, mean, rstd);
  test::check_close(values_of(*backend, dinp), test::scaled(g_inp, 2.0), 1e-6, "layernorm dinp accumulates");
  test::check_close(values_of(*backend, dweight), test::scaled(g_weight, 2.0), 1e-6, "layernorm dweight accumulates");
  test::check_close(values_of(*backend, dbias), test::scaled(g_bias, 2.0), 1e-6, "layernorm dbias accumulates");

  Tensor dbias_only = backend->zeros(DType::f32, {C});
  backend->layernorm_backward(Tensor(), Tensor(), dbias_only, dout, t_inp, t_weight, mean, rstd);
  CHECK(test::same_bits(values_of(*backend, dbias_only), g_bias));
  Tensor dinp_only = backend->zeros(DType::f32, {N, C});
  backend->layernorm_backward(dinp_only, Tensor(), Tensor(), dout, t_inp, t_weight, mean, rstd);
  CHECK(test::same_bits(values_of(*backend, dinp_only), g_inp));

  // Without a bias the output is the biased one minus the bias.
  backend->layernorm_forward(out, mean, rstd, t_inp, t_weight, Tensor(), kEps);
  test::check_close(values_of(*backend, out), reference_layernorm(x, w, Vector(C, 0.0)), test::kForwardTolerance,
                    "layernorm out without bias");
  CHECK_THROWS_AS(backend->layernorm_forward(out, mean, rstd, t_inp, t_weight, backend->empty(DType::f32, {C + 1}), kEps),
                  std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
