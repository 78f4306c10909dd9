// Softmax cross-entropy rows and AdamW.

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

constexpr std::int64_t N = 7, V = 13;

Vector reference_cross_entropy(const Vector& logits, const std::vector<std::int32_t>& targets) {
  Vector losses(static_cast<std::size_t>(N));
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int32_t target = targets[static_cast<std::size_t>(n)];
    if (target == -100) continue;
    double sum = 0.0;
    for (std::int64_t j = 0; j < V; ++j) sum += std::exp(logits[static_cast<std::size_t>(n * V + j)]);
    losses[static_cast<std::size_t>(n)] = std::log(sum) - logits[static_cast<std::size_t>(n * V + target)];
  }
  return losses;
}

TEST_CASE("cross_entropy_rows: losses, gradient over the logits, ignored rows") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(60);
  // Large logits: without the max subtraction exp() would overflow.
  auto logits = test::random_values(N * V, rng, -4.0f, 4.0f);
  logits[3] = 120.0f;
  const std::vector<std::int32_t> targets{3, 0, -100, 12, 7, -100, 5};
  const float scale = 1.0f / 5.0f;  // 1 / (rows that count)
  Tensor t_targets = tensor_from(*backend, {N}, targets);
  Tensor t_logits = tensor_from(*backend, {N, V}, logits);
  Tensor losses = backend->empty(DType::f32, {N});

  backend->cross_entropy_rows(losses, t_logits, t_targets, 0.0f);  // loss only: logits untouched
  const Vector expected = reference_cross_entropy(to_double(logits), targets);
  test::check_close(values_of(*backend, losses), expected, test::kForwardTolerance, "losses");
  CHECK(values_of(*backend, t_logits) == logits);
  CHECK(values_of(*backend, losses)[2] == 0.0f);
  CHECK(values_of(*backend, losses)[5] == 0.0f);

  backend->cross_entropy_rows(losses, t_logits, t_targets, scale);
  test::check_close(values_of(*backend, losses), expected, test::kForwardTolerance, "losses with gradient");
  const auto gradient = values_of(*backend, t_logits);
  const Vector projection(static_cast<std::size_t>(N), static_cast<double>(scale));  // d(scale * sum(losses))
  test::check_close(gradient,
                    test::numeric_gradient([&](const Vector& x) { return reference_cross_entropy(x, targets); },
                                           to_double(logits), projection),
                    test::kGradientTolerance, "dlogits");
  for (std::int64_t j = 0; j < V; ++j) {
    CHECK(gradient[static_cast<std::size_t>(2 * V + j)] == 0.0f);
    CHECK(gradient[static_cast<std::size_t>(5 * V + j)] == 0.0f);
  }

  Tensor bad_targets = tensor_from(*backend, {N}, std::vector<std::int32_t>{0, 1, 2, 13, 0, 0, 0});
  CHECK_THROWS_AS(backend->cross_entropy_rows(losses, t_logits, bad_targets, 1.0f), std::out_of_range);
  CHECK_THROWS_AS(backend->cross_entropy_rows(backend->empty(DType::f32, {N - 1}), t_logits, t_targets, 1.0f),
                  std::logic_error);
}

TEST_CASE("cross_entropy_rows with a vocabulary wider than the vector lanes: losses and softmax - onehot") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(62);
  const std::int64_t rows = 5, vocabulary = 1001;
  const auto logits = test::random_values(rows * vocabulary, rng, -8.0f, 8.0f);
  const std::vector<std::int32_t> targets{0, 1000, 517, -100, 64};
  Tensor t_logits = tensor_from(*backend, {rows, vocabulary}, logits);
  Tensor losses = backend->empty(DType::f32, {rows});
  const float scale = 0.5f;
  backend->cross_entropy_rows(losses, t_logits, tensor_from(*backend, {rows}, targets), scale);
  Vector expected_losses(static_cast<std::size_t>(rows)), expected_gradient(logits.size());
  for (std::int64_t n = 0; n < rows; ++n) {
    const std::int32_t target = targets[static_cast<std::size_t>(n)];
    if (target == -100) continue;
    double sum = 0.0;
    for (std::int64_t j = 0; j < vocabulary; ++j) sum += std::exp(static_cast<double>(logits[static_cast<std::size_t>(n * vocabulary + j)]));
    expected_losses[static_cast<std::size_t>(n)] =
        std::log(sum) - static_cast<double>(logits[static_cast<std::size_t>(n * vocabulary + target)]);
    for (std::int64_t j = 0; j < vocabulary; ++j) {
      const auto index = static_cast<std::size_t>(n * vocabulary + j);
      expected_gradient[index] =
          (std::exp(static_cast<double>(logits[index])) / sum - (j == target ? 1.0 : 0.0)) * static_cast<double>(scale);
    }
  }
  test::check_close(values_of(*backend, losses), expected_losses, test::kForwardTolerance, "losses");
  test::check_close(values_of(*backend, t_logits), expected_gradient, test::kForwardTolerance, "softmax - onehot");
}

// torch.optim.AdamW's single-tensor step written out in double.
struct ReferenceAdamW {
  Vector param, m, v;
  void step(const Vector& grad, double lr, double beta1, double beta2, double eps, double weight_decay, int step) {
    const double bias_correction1 = 1.0 - std::pow(beta1, step);
    const double bias_correction2 = 1.0 - std::pow(beta2, step);
    for (std::size_t i = 0; i < param.size(); ++i) {
      param[i] *= 1.0 - lr * weight_decay;
      m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
      v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
      const double denom = std::sqrt(v[i]) / std::sqrt(bias_correction2) + eps;
      param[i] -= lr / bias_correction1 * m[i] / denom;
    }
  }
};

TEST_CASE("adamw_step: four steps against torch's formula in double") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(61);
  const std::int64_t count = 37;
  const auto initial = test::random_values(count, rng);
  Tensor param = tensor_from(*backend, {count}, initial);
  Tensor m = backend->zeros(DType::f32, {count});
  Tensor v = backend->zeros(DType::f32, {count});
  ReferenceAdamW reference{to_double(initial), Vector(count, 0.0), Vector(count, 0.0)};
  const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1;
  for (int step = 1; step <= 4; ++step) {
    const auto grad = test::random_values(count, rng, -0.1f, 0.1f);
    backend->adamw_step(param, tensor_from(*backend, {count}, grad), m, v, lr, beta1, beta2, eps, weight_decay, step);
    reference.step(to_double(grad), lr, beta1, beta2, eps, weight_decay, step);
    CAPTURE(step);
    test::check_close(values_of(*backend, param), reference.param, 1e-6, "param");
    test::check_close(values_of(*backend, m), reference.m, 1e-6, "m");
    test::check_close(values_of(*backend, v), reference.v, 1e-6, "v");
  }
  CHECK_THROWS_AS(backend->adamw_step(param, param, m, v, lr, beta1, beta2, eps, weight_decay, 0), std::logic_error);
  CHECK_THROWS_AS(backend->adamw_step(param, backend->empty(DType::f32, {count + 1}), m, v, lr, beta1, beta2, eps,
                                      weight_decay, 1),
                  std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
