// GEMM, the linear layer and the embedding, against double references and finite differences.

#include <random>
#include <stdexcept>

#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

using test::tensor_from;
using test::to_double;
using test::values_of;
using test::Vector;

constexpr std::int64_t N = 7, C = 13, OC = 5;

// out[n,o] = sum_c inp[n,c] weight[o,c] + bias[o]
Vector reference_linear(const Vector& inp, const Vector& weight, const Vector& bias) {
  Vector out(static_cast<std::size_t>(N * OC));
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t o = 0; o < OC; ++o) {
      double sum = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(o)];
      for (std::int64_t c = 0; c < C; ++c) {
        sum += inp[static_cast<std::size_t>(n * C + c)] * weight[static_cast<std::size_t>(o * C + c)];
      }
      out[static_cast<std::size_t>(n * OC + o)] = sum;
    }
  }
  return out;
}

TEST_CASE("gemm: every transpose combination, alpha and beta") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(10);
  const std::int64_t m = 7, n = 11, k = 13;
  const float alpha = 0.75f, beta = -1.5f;
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      CAPTURE(transpose_a);
      CAPTURE(transpose_b);
      const auto a = test::random_values(static_cast<std::size_t>(m * k), rng);
      const auto b = test::random_values(static_cast<std::size_t>(k * n), rng);
      const auto c = test::random_values(static_cast<std::size_t>(m * n), rng);
      Tensor ta = tensor_from(*backend, transpose_a ? Shape{k, m} : Shape{m, k}, a);
      Tensor tb = tensor_from(*backend, transpose_b ? Shape{n, k} : Shape{k, n}, b);
      Tensor tc = tensor_from(*backend, {m, n}, c);
      backend->gemm(transpose_a, transpose_b, alpha, ta, tb, beta, tc);
      Vector expected(static_cast<std::size_t>(m * n));
      for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = 0; j < n; ++j) {
          double sum = 0.0;
          for (std::int64_t p = 0; p < k; ++p) {
            const double av = a[static_cast<std::size_t>(transpose_a ? p * m + i : i * k + p)];
            const double bv = b[static_cast<std::size_t>(transpose_b ? j * k + p : p * n + j)];
            sum += av * bv;
          }
          const auto index = static_cast<std::size_t>(i * n + j);
          expected[index] = static_cast<double>(alpha) * sum + static_cast<double>(beta) * static_cast<double>(c[index]);
        }
      }
      test::check_close(values_of(*backend, tc), expected, test::kForwardTolerance, "gemm");
    }
  }
  Tensor a = backend->empty(DType::f32, {m, k});
  CHECK_THROWS_AS(backend->gemm(false, false, 1.0f, a, a, 0.0f, backend->empty(DType::f32, {m, m})),
                  std::logic_error);
  // k = 0: c = beta * c, even though BLAS itself rejects the empty operands.
  Tensor c = tensor_from(*backend, {2, 2}, std::vector<float>{1, 2, 3, 4});
  backend->gemm(false, false, 1.0f, backend->empty(DType::f32, {2, 0}), backend->empty(DType::f32, {0, 2}), 2.0f, c);
  CHECK(values_of(*backend, c) == std::vector<float>{2, 4, 6, 8});
}

TEST_CASE("linear: forward, gradients by finite differences, accumulation, skipped outputs") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(11);
  const auto inp = test::random_values(N * C, rng);
  const auto weight = test::random_values(OC * C, rng);
  const auto bias = test::random_values(OC, rng);
  const auto projection = test::random_values(N * OC, rng);
  Tensor t_inp = tensor_from(*backend, {N, C}, inp);
  Tensor t_weight = tensor_from(*backend, {OC, C}, weight);
  Tensor t_bias = tensor_from(*backend, {OC}, bias);

  Tensor out = backend->empty(DType::f32, {N, OC});
  backend->linear_forward(out, t_inp, t_weight, t_bias);
  test::check_close(values_of(*backend, out), reference_linear(to_double(inp), to_double(weight), to_double(bias)),
                    test::kForwardTolerance, "linear out");
  backend->linear_forward(out, t_inp, t_weight, Tensor());
  test::check_close(values_of(*backend, out), reference_linear(to_double(inp), to_double(weight), {}),
                    test::kForwardTolerance, "linear out without bias");

  Tensor dout = tensor_from(*backend, {N, OC}, projection);
  Tensor dinp = backend->zeros(DType::f32, {N, C});
  Tensor dweight = backend->zeros(DType::f32, {OC, C});
  Tensor dbias = backend->zeros(DType::f32, {OC});
  backend->linear_backward(dinp, dweight, dbias, dout, t_inp, t_weight);
  const auto g_inp = values_of(*backend, dinp), g_weight = values_of(*backend, dweight),
             g_bias = values_of(*backend, dbias);

  const Vector r = to_double(projection);
  const Vector x = to_double(inp), w = to_double(weight), b = to_double(bias);
  test::check_close(g_inp, test::numeric_gradient([&](const Vector& v) { return reference_linear(v, w, b); }, x, r),
                    test::kGradientTolerance, "dinp");
  test::check_close(g_weight,
                    test::numeric_gradient([&](const Vector& v) { return reference_linear(x, v, b); }, w, r),
                    test::kGradientTolerance, "dweight");
  test::check_close(g_bias, test::numeric_gradient([&](const Vector& v) { return reference_linear(x, w, v); }, b, r),
                    test::kGradientTolerance, "dbias");

  backend->linear_backward(dinp, dweight, dbias, dout, t_inp, t_weight);
  test::check_close(values_of(*backend, dinp), test::scaled(g_inp, 2.0), 1e-6, "dinp accumulates");
  test::check_close(values_of(*backend, dweight), test::scaled(g_weight, 2.0), 1e-6, "dweight accumulates");
  test::check_close(values_of(*backend, dbias), test::scaled(g_bias, 2.0), 1e-6, "dbias accumulates");

  // A frozen weight: only dinp is computed, and it matches the full call exactly.
  Tensor dinp_only = backend->zeros(DType::f32, {N, C});
  backend->linear_backward(dinp_only, Tensor(), Tensor(), dout, t_inp, t_weight);
  CHECK(test::same_bits(values_of(*backend, dinp_only), g_inp));
  Tensor dweight_only = backend->zeros(DType::f32, {OC, C});
  backend->linear_backward(Tensor(), dweight_only, Tensor(), dout, t_inp, t_weight);
  CHECK(test::same_bits(values_of(*backend, dweight_only), g_weight));

  CHECK_THROWS_AS(backend->linear_forward(out, t_inp, t_weight.reshape({C, OC}), t_bias), std::logic_error);
  CHECK_THROWS_AS(backend->linear_backward(dinp, dweight, backend->empty(DType::f32, {OC + 1}), dout, t_inp, t_weight),
                  std::logic_error);
}

TEST_CASE("linear takes [B,T,C] activations as N = B*T rows") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(12);
  const auto inp = test::random_values(N * C, rng);
  const auto weight = test::random_values(OC * C, rng);
  Tensor out_2d = backend->empty(DType::f32, {N, OC});
  Tensor out_3d = backend->empty(DType::f32, {1, N, OC});
  backend->linear_forward(out_2d, tensor_from(*backend, {N, C}, inp), tensor_from(*backend, {OC, C}, weight), Tensor());
  backend->linear_forward(out_3d, tensor_from(*backend, {1, N, C}, inp), tensor_from(*backend, {OC, C}, weight),
                          Tensor());
  CHECK(values_of(*backend, out_2d) == values_of(*backend, out_3d));
}

TEST_CASE("embedding: lookup, gradient with repeated ids, ids out of range") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(13);
  const std::int64_t vocabulary = 11, channels = 37;  // more than one column block
  const std::vector<std::int32_t> ids{4, 0, 10, 4, 7, 4, 10};
  const auto table = test::random_values(static_cast<std::size_t>(vocabulary * channels), rng);
  Tensor t_ids = tensor_from(*backend, {N}, ids);
  Tensor t_table = tensor_from(*backend, {vocabulary, channels}, table);
  Tensor out = backend->empty(DType::f32, {N, channels});
  backend->embedding_forward(out, t_ids, t_table);
  const auto result = values_of(*backend, out);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < channels; ++c) {
      CHECK(result[static_cast<std::size_t>(n * channels + c)] ==
            table[static_cast<std::size_t>(ids[static_cast<std::size_t>(n)] * channels + c)]);
    }
  }

  // The lookup is linear in the table: finite differences of sum(out * R).
  const auto projection = test::random_values(static_cast<std::size_t>(N * channels), rng);
  auto reference = [&](const Vector& t) {
    Vector o(static_cast<std::size_t>(N * channels));
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t c = 0; c < channels; ++c) {
        o[static_cast<std::size_t>(n * channels + c)] =
            t[static_cast<std::size_t>(ids[static_cast<std::size_t>(n)] * channels + c)];
      }
    }
    return o;
  };
  Tensor dtable = backend->zeros(DType::f32, {vocabulary, channels});
  Tensor dout = tensor_from(*backend, {N, channels}, projection);
  backend->embedding_backward(dtable, t_ids, dout);
  const auto gradient = values_of(*backend, dtable);
  test::check_close(gradient, test::numeric_gradient(reference, to_double(table), to_double(projection)),
                    test::kGradientTolerance, "dtable");
  backend->embedding_backward(dtable, t_ids, dout);
  test::check_close(values_of(*backend, dtable), test::scaled(gradient, 2.0), 1e-6, "dtable accumulates");
  backend->embedding_backward(Tensor(), t_ids, dout);  // frozen table: nothing to do

  Tensor bad_ids = tensor_from(*backend, {2}, std::vector<std::int32_t>{1, 11});
  CHECK_THROWS_AS(backend->embedding_forward(backend->empty(DType::f32, {2, channels}), bad_ids, t_table),
                  std::out_of_range);
  CHECK_THROWS_AS(backend->embedding_forward(out, t_ids, t_table.reshape({channels, vocabulary})), std::logic_error);
}

}  // namespace
}  // namespace fthost::backend

TEST_CASE("bf16 matmul precision: rounds the inputs to bf16 and accumulates in f32, for every transpose, alpha and beta") {
  auto backend = fthost::backend::make_cpu_backend();
  using fthost::backend::DType;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.0f}, std::pair{2.0f, 0.25f}}) {
        CAPTURE(transpose_a);
        CAPTURE(transpose_b);
        CAPTURE(alpha);
        CAPTURE(beta);
        const std::int64_t m = 37, n = 70, k = 129;
        std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
            c(static_cast<std::size_t>(m * n));
        for (float& x : a) x = normal(rng);
        for (float& x : b) x = normal(rng);
        for (float& x : c) x = normal(rng);
        auto ta = backend->empty(DType::f32, transpose_a ? fthost::backend::Shape{k, m} : fthost::backend::Shape{m, k});
        auto tb = backend->empty(DType::f32, transpose_b ? fthost::backend::Shape{n, k} : fthost::backend::Shape{k, n});
        auto exact = backend->empty(DType::f32, {m, n});
        auto fast = backend->empty(DType::f32, {m, n});
        backend->upload(ta, a.data());
        backend->upload(tb, b.data());
        // Reference: the f32 GEMM of the bf16-rounded inputs.
        auto ra = backend->empty(DType::f32, ta.shape());
        auto rb = backend->empty(DType::f32, tb.shape());
        backend->copy(ra, ta);
        backend->copy(rb, tb);
        backend->round_to(ra, DType::bf16);
        backend->round_to(rb, DType::bf16);
        backend->upload(exact, c.data());
        backend->upload(fast, c.data());
        backend->gemm(transpose_a, transpose_b, alpha, ra, rb, beta, exact);
        backend->set_matmul_precision(DType::bf16);
        backend->gemm(transpose_a, transpose_b, alpha, ta, tb, beta, fast);  // rounds a and b itself
        backend->set_matmul_precision(DType::f32);
        std::vector<float> expected(c.size()), actual(c.size());
        backend->download(expected.data(), exact);
        backend->download(actual.data(), fast);
        // Same products (bf16 x bf16 is exact in f32), another summation order: ~k ulp of the sums.
        double largest = 0.0;
        for (std::size_t i = 0; i < c.size(); ++i) largest = std::max(largest, std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i])));
        CHECK(largest < 1e-4);
      }
    }
  }
  CHECK_THROWS_AS(backend->set_matmul_precision(DType::f16), std::invalid_argument);
}
