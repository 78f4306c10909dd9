// Causal attention inside documents, grouped-query heads: forward and lse against a naive double
// reference, gradients by finite differences, isolation between documents.

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

constexpr std::int64_t B = 2, T = 11, H = 4, KV = 2, D = 8;

// Row 0 holds one document [0, 11); row 1 holds two in a row: [0, 4) and [4, 11).
const std::vector<std::int32_t> kDocStart{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                          0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4};

struct Reference {
  Vector out;  // [B,T,H,D]
  Vector lse;  // [B,H,T]
};

struct Dims {
  std::int64_t batch, sequence, heads, kv_heads, head_size;
};

// The textbook formula: for each query, softmax over its allowed keys of scale * q.k, times v.
Reference reference_attention(const Dims& n, const std::vector<std::int32_t>& doc_start, const Vector& q,
                              const Vector& k, const Vector& v, double scale) {
  const std::int64_t seq = n.sequence, heads = n.heads, kv_heads = n.kv_heads, size = n.head_size;
  Reference result{Vector(static_cast<std::size_t>(n.batch * seq * heads * size)), Vector(static_cast<std::size_t>(n.batch * heads * seq))};
  for (std::int64_t b = 0; b < n.batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::int64_t g = h / (heads / kv_heads);
      for (std::int64_t t = 0; t < seq; ++t) {
        const std::int64_t first = doc_start[static_cast<std::size_t>(b * seq + t)];
        Vector scores;
        for (std::int64_t s = first; s <= t; ++s) {
          double dot = 0.0;
          for (std::int64_t d = 0; d < size; ++d) {
            dot += q[static_cast<std::size_t>(((b * seq + t) * heads + h) * size + d)] *
                   k[static_cast<std::size_t>(((b * seq + s) * kv_heads + g) * size + d)];
          }
          scores.push_back(scale * dot);
        }
        double max_score = scores[0];
        for (double score : scores) max_score = std::max(max_score, score);
        double sum = 0.0;
        for (double score : scores) sum += std::exp(score - max_score);
        result.lse[static_cast<std::size_t>((b * heads + h) * seq + t)] = max_score + std::log(sum);
        Vector probabilities;
        for (double score : scores) probabilities.push_back(std::exp(score - max_score) / sum);
        for (std::int64_t d = 0; d < size; ++d) {
          double value = 0.0;
          for (std::int64_t s = first; s <= t; ++s) {
            value += probabilities[static_cast<std::size_t>(s - first)] *
                     v[static_cast<std::size_t>(((b * seq + s) * kv_heads + g) * size + d)];
          }
          result.out[static_cast<std::size_t>(((b * seq + t) * heads + h) * size + d)] = value;
        }
      }
    }
  }
  return result;
}

Reference reference_attention(const Vector& q, const Vector& k, const Vector& v, double scale) {
  return reference_attention({B, T, H, KV, D}, kDocStart, q, k, v, scale);
}

struct AttentionCase {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  std::mt19937 rng{40};
  std::vector<float> q = test::random_values(B * T * H * D, rng, -2.0f, 2.0f);
  std::vector<float> k = test::random_values(B * T * KV * D, rng, -2.0f, 2.0f);
  std::vector<float> v = test::random_values(B * T * KV * D, rng);
  float scale = 1.0f / std::sqrt(static_cast<float>(D));
  Tensor doc_start = tensor_from(*backend, {B, T}, kDocStart);

  struct Output {
    Tensor out, lse;
  };
  Output forward(const std::vector<float>& q_values, const std::vector<float>& k_values,
                 const std::vector<float>& v_values) {
    Output result{backend->empty(DType::f32, {B, T, H, D}), backend->empty(DType::f32, {B, H, T})};
    backend->attention_forward(result.out, result.lse, tensor_from(*backend, {B, T, H, D}, q_values),
                               tensor_from(*backend, {B, T, KV, D}, k_values),
                               tensor_from(*backend, {B, T, KV, D}, v_values), doc_start, scale);
    return result;
  }
};

TEST_CASE("attention forward: output and lse against the naive reference (GQA, two documents in a row)") {
  AttentionCase c;
  const auto result = c.forward(c.q, c.k, c.v);
  const Reference expected = reference_attention(to_double(c.q), to_double(c.k), to_double(c.v), c.scale);
  test::check_close(values_of(*c.backend, result.out), expected.out, test::kForwardTolerance, "attention out");
  test::check_close(values_of(*c.backend, result.lse), expected.lse, test::kForwardTolerance, "attention lse");
}

TEST_CASE("attention forward: a document does not see another document's keys and values") {
  AttentionCase c;
  const auto before = values_of(*c.backend, c.forward(c.q, c.k, c.v).out);
  // Change keys and values of row 1's first document (tokens 0..3).
  auto k = c.k, v = c.v;
  for (std::int64_t s = 0; s < 4; ++s) {
    for (std::int64_t i = 0; i < KV * D; ++i) {
      k[static_cast<std::size_t>((1 * T + s) * KV * D + i)] += 3.0f;
      v[static_cast<std::size_t>((1 * T + s) * KV * D + i)] -= 2.0f;
    }
  }
  const auto after = values_of(*c.backend, c.forward(c.q, k, v).out);
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      bool row_same = true;
      for (std::int64_t i = 0; i < H * D; ++i) {
        const auto index = static_cast<std::size_t>((b * T + t) * H * D + i);
        row_same = row_same && before[index] == after[index];
      }
      CAPTURE(b);
      CAPTURE(t);
      CHECK(row_same == !(b == 1 && t < 4));  // only the changed document's own queries move
    }
  }
}

TEST_CASE("attention backward: dq, dk, dv by finite differences, accumulation, skipped outputs") {
  AttentionCase c;
  const auto fwd = c.forward(c.q, c.k, c.v);
  const auto projection = test::random_values(B * T * H * D, c.rng);
  Backend& backend = *c.backend;
  Tensor t_q = tensor_from(backend, {B, T, H, D}, c.q);
  Tensor t_k = tensor_from(backend, {B, T, KV, D}, c.k);
  Tensor t_v = tensor_from(backend, {B, T, KV, D}, c.v);
  Tensor dout = tensor_from(backend, {B, T, H, D}, projection);
  Tensor dq = backend.zeros(DType::f32, {B, T, H, D});
  Tensor dk = backend.zeros(DType::f32, {B, T, KV, D});
  Tensor dv = backend.zeros(DType::f32, {B, T, KV, D});
  backend.attention_backward(dq, dk, dv, dout, t_q, t_k, t_v, fwd.out, fwd.lse, c.doc_start, c.scale);
  const auto g_q = values_of(backend, dq), g_k = values_of(backend, dk), g_v = values_of(backend, dv);

  const Vector q = to_double(c.q), k = to_double(c.k), v = to_double(c.v), r = to_double(projection);
  const double scale = c.scale;
  test::check_close(
      g_q, test::numeric_gradient([&](const Vector& x) { return reference_attention(x, k, v, scale).out; }, q, r),
      test::kGradientTolerance, "dq");
  test::check_close(
      g_k, test::numeric_gradient([&](const Vector& x) { return reference_attention(q, x, v, scale).out; }, k, r),
      test::kGradientTolerance, "dk");
  test::check_close(
      g_v, test::numeric_gradient([&](const Vector& x) { return reference_attention(q, k, x, scale).out; }, v, r),
      test::kGradientTolerance, "dv");

  backend.attention_backward(dq, dk, dv, dout, t_q, t_k, t_v, fwd.out, fwd.lse, c.doc_start, c.scale);
  test::check_close(values_of(backend, dq), test::scaled(g_q, 2.0), 1e-6, "dq accumulates");
  test::check_close(values_of(backend, dk), test::scaled(g_k, 2.0), 1e-6, "dk accumulates");
  test::check_close(values_of(backend, dv), test::scaled(g_v, 2.0), 1e-6, "dv accumulates");

  // Each gradient alone equals its value from the full call, bit for bit.
  Tensor dq_only = backend.zeros(DType::f32, {B, T, H, D});
  backend.attention_backward(dq_only, Tensor(), Tensor(), dout, t_q, t_k, t_v, fwd.out, fwd.lse, c.doc_start, c.scale);
  CHECK(test::same_bits(values_of(backend, dq_only), g_q));
  Tensor dk_only = backend.zeros(DType::f32, {B, T, KV, D});
  backend.attention_backward(Tensor(), dk_only, Tensor(), dout, t_q, t_k, t_v, fwd.out, fwd.lse, c.doc_start, c.scale);
  CHECK(test::same_bits(values_of(backend, dk_only), g_k));
  Tensor dv_only = backend.zeros(DType::f32, {B, T, KV, D});
  backend.attention_backward(Tensor(), Tensor(), dv_only, dout, t_q, t_k, t_v, fwd.out, fwd.lse, c.doc_start, c.scale);
  CHECK(test::same_bits(values_of(backend, dv_only), g_v));
}

TEST_CASE("attention at sizes that take every vector path (T = 100, D = 80): forward and sampled gradients") {
  // Key counts up to 100 use the 64- and 16-wide register blocks and the tail; D = 80 is one
  // 64-wide chunk of the weighted sums plus a 16-element tail. Two documents in the second row.
  const Dims n{2, 100, 2, 1, 80};
  std::vector<std::int32_t> starts(static_cast<std::size_t>(n.batch * n.sequence), 0);
  for (std::int64_t t = 45; t < n.sequence; ++t) starts[static_cast<std::size_t>(n.sequence + t)] = 45;
  auto backend = make_cpu_backend();
  std::mt19937 rng(41);
  const auto q = test::random_values(n.batch * n.sequence * n.heads * n.head_size, rng, -1.5f, 1.5f);
  const auto k = test::random_values(n.batch * n.sequence * n.kv_heads * n.head_size, rng, -1.5f, 1.5f);
  const auto v = test::random_values(n.batch * n.sequence * n.kv_heads * n.head_size, rng);
  const auto projection = test::random_values(q.size(), rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(n.head_size));
  const Shape q_shape{n.batch, n.sequence, n.heads, n.head_size}, kv_shape{n.batch, n.sequence, n.kv_heads, n.head_size};
  Tensor t_q = tensor_from(*backend, q_shape, q), t_k = tensor_from(*backend, kv_shape, k),
         t_v = tensor_from(*backend, kv_shape, v);
  Tensor doc_start = tensor_from(*backend, {n.batch, n.sequence}, starts);
  Tensor out = backend->empty(DType::f32, q_shape);
  Tensor lse = backend->empty(DType::f32, {n.batch, n.heads, n.sequence});
  backend->attention_forward(out, lse, t_q, t_k, t_v, doc_start, scale);
  const Vector xq = to_double(q), xk = to_double(k), xv = to_double(v), r = to_double(projection);
  const Reference expected = reference_attention(n, starts, xq, xk, xv, scale);
  test::check_close(values_of(*backend, out), expected.out, test::kForwardTolerance, "attention out");
  test::check_close(values_of(*backend, lse), expected.lse, test::kForwardTolerance, "attention lse");

  Tensor dq = backend->zeros(DType::f32, q_shape), dk = backend->zeros(DType::f32, kv_shape),
         dv = backend->zeros(DType::f32, kv_shape);
  backend->attention_backward(dq, dk, dv, tensor_from(*backend, q_shape, projection), t_q, t_k, t_v, out, lse,
                              doc_start, scale);
  const auto sample_q = test::sample_indices(q.size(), 16, rng), sample_k = test::sample_indices(k.size(), 16, rng),
             sample_v = test::sample_indices(v.size(), 16, rng);
  test::check_close(test::gather(values_of(*backend, dq), sample_q),
                    test::numeric_gradient_at(
                        [&](const Vector& x) { return reference_attention(n, starts, x, xk, xv, scale).out; }, xq, r,
                        sample_q),
                    test::kGradientTolerance, "dq (sampled)");
  test::check_close(test::gather(values_of(*backend, dk), sample_k),
                    test::numeric_gradient_at(
                        [&](const Vector& x) { return reference_attention(n, starts, xq, x, xv, scale).out; }, xk, r,
                        sample_k),
                    test::kGradientTolerance, "dk (sampled)");
  test::check_close(test::gather(values_of(*backend, dv), sample_v),
                    test::numeric_gradient_at(
                        [&](const Vector& x) { return reference_attention(n, starts, xq, xk, x, scale).out; }, xv, r,
                        sample_v),
                    test::kGradientTolerance, "dv (sampled)");
}

TEST_CASE("attention: shape and doc_start errors") {
  AttentionCase c;
  Backend& backend = *c.backend;
  Tensor out = backend.empty(DType::f32, {B, T, H, D});
  Tensor lse = backend.empty(DType::f32, {B, H, T});
  Tensor q = tensor_from(backend, {B, T, H, D}, c.q);
  Tensor k = tensor_from(backend, {B, T, KV, D}, c.k);
  Tensor v = tensor_from(backend, {B, T, KV, D}, c.v);
  CHECK_THROWS_AS(backend.attention_forward(out, backend.empty(DType::f32, {B, T, H}), q, k, v, c.doc_start, c.scale),
                  std::logic_error);
  Tensor k3 = backend.empty(DType::f32, {B, T, 3, D});  // 4 query heads are not divisible by 3
  CHECK_THROWS_AS(backend.attention_forward(out, lse, q, k3, k3, c.doc_start, c.scale), std::logic_error);
  auto bad_start = kDocStart;
  bad_start[5] = 6;  // a token that starts after itself
  CHECK_THROWS_AS(backend.attention_forward(out, lse, q, k, v, tensor_from(backend, {B, T}, bad_start), c.scale),
                  std::out_of_range);
}

}  // namespace
}  // namespace fthost::backend
