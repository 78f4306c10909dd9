// Bit-identical results: the same op twice with two OpenMP threads, and the loops that reduce
// (weight gradients, attention, norms, sum_of_squares) with one thread and with two.

#include <omp.h>

#include <cmath>
#include <functional>
#include <random>

#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

using test::tensor_from;
using test::values_of;

// Restores OpenMP's thread count when the test ends.
class ThreadCount {
 public:
  ThreadCount() : saved_(omp_get_max_threads()) {}
  ~ThreadCount() { omp_set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

// Runs `op` (which returns its outputs, concatenated) with 2 threads twice and with 1 thread.
void check_bit_identical(const std::function<std::vector<float>()>& op, bool across_thread_counts = true) {
  ThreadCount restore;
  omp_set_num_threads(2);
  const auto first = op();
  const auto second = op();
  CHECK(test::same_bits(first, second));
  if (!across_thread_counts) return;
  omp_set_num_threads(1);
  CHECK(test::same_bits(first, op()));
}

std::vector<float> concatenated(Backend& backend, std::initializer_list<Tensor> tensors) {
  std::vector<float> all;
  for (const Tensor& tensor : tensors) {
    const auto values = values_of(backend, tensor);
    all.insert(all.end(), values.begin(), values.end());
  }
  return all;
}

// Larger than the unit tests' sizes: several column blocks and uneven work per thread.
constexpr std::int64_t B = 2, T = 67, H = 4, KV = 2, D = 16, N = B * T, C = 96, OC = 40, V = 301;

TEST_CASE("determinism: attention forward and backward") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(70);
  std::vector<std::int32_t> starts(static_cast<std::size_t>(B * T));
  for (std::int64_t t = 0; t < T; ++t) {
    starts[static_cast<std::size_t>(t)] = 0;
    starts[static_cast<std::size_t>(T + t)] = t < 30 ? 0 : 30;
  }
  Tensor doc_start = tensor_from(*backend, {B, T}, starts);
  Tensor q = tensor_from(*backend, {B, T, H, D}, test::random_values(B * T * H * D, rng));
  Tensor k = tensor_from(*backend, {B, T, KV, D}, test::random_values(B * T * KV * D, rng));
  Tensor v = tensor_from(*backend, {B, T, KV, D}, test::random_values(B * T * KV * D, rng));
  Tensor dout = tensor_from(*backend, {B, T, H, D}, test::random_values(B * T * H * D, rng));
  const float scale = 0.25f;
  check_bit_identical([&] {
    Tensor out = backend->empty(DType::f32, {B, T, H, D});
    Tensor lse = backend->empty(DType::f32, {B, H, T});
    backend->attention_forward(out, lse, q, k, v, doc_start, scale);
    Tensor dq = backend->zeros(DType::f32, {B, T, H, D});
    Tensor dk = backend->zeros(DType::f32, {B, T, KV, D});
    Tensor dv = backend->zeros(DType::f32, {B, T, KV, D});
    backend->attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc_start, scale);
    return concatenated(*backend, {out, lse, dq, dk, dv});
  });
}

TEST_CASE("determinism: norms, linear bias gradient, embedding gradient, sum_of_squares, loss") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(71);
  Tensor inp = tensor_from(*backend, {N, C}, test::random_values(N * C, rng));
  Tensor weight = tensor_from(*backend, {C}, test::random_values(C, rng));
  Tensor dout = tensor_from(*backend, {N, C}, test::random_values(N * C, rng));
  check_bit_identical([&] {
    Tensor out = backend->empty(DType::f32, {N, C});
    Tensor mean = backend->empty(DType::f32, {N});
    Tensor rstd = backend->empty(DType::f32, {N});
    Tensor dinp = backend->zeros(DType::f32, {N, C});
    Tensor dweight = backend->zeros(DType::f32, {C});
    Tensor dbias = backend->zeros(DType::f32, {C});
    backend->rmsnorm_forward(out, rstd, inp, weight, 1e-5f);
    backend->rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd);
    backend->layernorm_forward(out, mean, rstd, inp, weight, weight, 1e-5f);
    backend->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd);
    return concatenated(*backend, {out, mean, rstd, dinp, dweight, dbias});
  });

  Tensor linear_dout = tensor_from(*backend, {N, OC}, test::random_values(N * OC, rng));
  Tensor linear_weight = tensor_from(*backend, {OC, C}, test::random_values(OC * C, rng));
  check_bit_identical([&] {
    Tensor dbias = backend->zeros(DType::f32, {OC});
    backend->linear_backward(Tensor(), Tensor(), dbias, linear_dout, inp, linear_weight);
    return values_of(*backend, dbias);
  });
  // GEMM: bit-identical from call to call; across thread counts it is up to OpenBLAS.
  check_bit_identical(
      [&] {
        Tensor out = backend->empty(DType::f32, {N, OC});
        Tensor dinp = backend->zeros(DType::f32, {N, C});
        Tensor dweight = backend->zeros(DType::f32, {OC, C});
        backend->linear_forward(out, inp, linear_weight, Tensor());
        backend->linear_backward(dinp, dweight, Tensor(), linear_dout, inp, linear_weight);
        return concatenated(*backend, {out, dinp, dweight});
      },
      false);

  std::vector<std::int32_t> ids(static_cast<std::size_t>(N));
  for (std::size_t n = 0; n < ids.size(); ++n) ids[n] = static_cast<std::int32_t>((n * 7) % 5);  // many repeats
  Tensor t_ids = tensor_from(*backend, {N}, ids);
  check_bit_identical([&] {
    Tensor dtable = backend->zeros(DType::f32, {5, C});
    backend->embedding_backward(dtable, t_ids, dout);
    return values_of(*backend, dtable);
  });

  Tensor big = tensor_from(*backend, {300001}, test::random_values(300001, rng));
  check_bit_identical([&] {
    const double sum = backend->sum_of_squares(big);
    float halves[2];
    std::memcpy(halves, &sum, sizeof sum);
    return std::vector<float>{halves[0], halves[1]};
  });

  const auto logits = test::random_values(N * V, rng, -5.0f, 5.0f);
  std::vector<std::int32_t> targets(static_cast<std::size_t>(N));
  for (std::size_t n = 0; n < targets.size(); ++n) targets[n] = static_cast<std::int32_t>((n * 13) % V);
  Tensor t_targets = tensor_from(*backend, {N}, targets);
  check_bit_identical([&] {
    Tensor t_logits = tensor_from(*backend, {N, V}, logits);
    Tensor losses = backend->empty(DType::f32, {N});
    backend->cross_entropy_rows(losses, t_logits, t_targets, 0.5f);
    return concatenated(*backend, {losses, t_logits});
  });
}

}  // namespace
}  // namespace fthost::backend
