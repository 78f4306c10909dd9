// Causal self-attention inside documents on the CPU backend, flash-style: no [T,T] matrix. A
// query's scores live in a per-thread buffer of length T, and the backward pass recomputes the
// probabilities from the saved log-sum-exp.
//
// Layout: q [B,T,H,D], k and v [B,T,KV,D], out [B,T,H,D], lse [B,H,T], doc_start [B,T].
// Query head h reads key/value head h / (H / KV) (grouped-query attention). Query t attends keys
// s in [doc_start[t], t].
//
// Arithmetic: a score is scale * sum_d q[d] k[d], summed over d in order in f32, the same products
// in the same order in every pass, so forward and backward see identical scores. To make that
// sum vectorise across keys, the kernels read K and V (and, for the key pass of the backward, Q
// and dout) through transposed copies [B, heads, D, T], each the size of its source. Softmax
// denominators and the weighted sums of values and gradients accumulate in f64. Every output row
// belongs to one thread: the same bits for any thread count.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// The shapes, strides and pointers the kernels share.
struct AttentionProblem {
  std::int64_t batch, sequence, heads, kv_heads, head_size, group;  // group = H / KV
  float scale;
  const std::int32_t* starts;  // [B,T]

  std::int64_t q_row(std::int64_t b, std::int64_t t, std::int64_t h) const {
    return ((b * sequence + t) * heads + h) * head_size;
  }
  std::int64_t kv_row(std::int64_t b, std::int64_t s, std::int64_t g) const {
    return ((b * sequence + s) * kv_heads + g) * head_size;
  }
  std::int64_t stat(std::int64_t b, std::int64_t h, std::int64_t t) const { return (b * heads + h) * sequence + t; }
  // Offset of head (b, head) in a transposed [B, heads, D, T] copy.
  std::int64_t transposed(std::int64_t b, std::int64_t head, std::int64_t heads_in_tensor) const {
    return (b * heads_in_tensor + head) * head_size * sequence;
  }
};

// Per-thread scratch, each of length T (or D).
struct AttentionScratch {
  std::vector<float> scores, dprobs, weights;
  std::vector<double> accumulator_a, accumulator_b;
  explicit AttentionScratch(const AttentionProblem& p)
      : scores(static_cast<std::size_t>(p.sequence)),
        dprobs(static_cast<std::size_t>(p.sequence)),
        weights(static_cast<std::size_t>(p.sequence)),
        accumulator_a(static_cast<std::size_t>(p.head_size)),
        accumulator_b(static_cast<std::size_t>(p.head_size)) {}
};

// scores[j] = sum_d vector[d] * columns[d * T + j] for j < count: one vector against `count`
// consecutive columns of a transposed [D, T] head, vectorised across j, summed over d in order.
// Blocks of 64, then 16 columns keep their sums in 16-float vector registers while d runs
// (GCC/Clang vector extensions: one zmm, two ymm or four xmm registers each, by clone); the last
// < 16 sum in `scores`. Either way each sum adds its d terms in order.
FTHOST_CPU_VECTOR_CLONES
void dot_against_columns(const float* vector, const float* columns, std::int64_t stride, std::int64_t head_size,
                         std::int64_t count, float* scores) {
  using Float16 = float __attribute__((vector_size(64)));
  constexpr std::int64_t kBlock = 64;
  std::int64_t first = 0;
  for (; first + kBlock <= count; first += kBlock) {
    Float16 sum0 = {}, sum1 = {}, sum2 = {}, sum3 = {};
    for (std::int64_t d = 0; d < head_size; ++d) {
      const float x = vector[d];
      const float* column = columns + d * stride + first;
      Float16 c0, c1, c2, c3;
      std::memcpy(&c0, column, sizeof c0);
      std::memcpy(&c1, column + 16, sizeof c1);
      std::memcpy(&c2, column + 32, sizeof c2);
      std::memcpy(&c3, column + 48, sizeof c3);
      sum0 += x * c0;
      sum1 += x * c1;
      sum2 += x * c2;
      sum3 += x * c3;
    }
    std::memcpy(scores + first, &sum0, sizeof sum0);
    std::memcpy(scores + first + 16, &sum1, sizeof sum1);
    std::memcpy(scores + first + 32, &sum2, sizeof sum2);
    std::memcpy(scores + first + 48, &sum3, sizeof sum3);
  }
  for (; first + 16 <= count; first += 16) {
    Float16 sum = {};
    for (std::int64_t d = 0; d < head_size; ++d) {
      Float16 c;
      std::memcpy(&c, columns + d * stride + first, sizeof c);
      sum += vector[d] * c;
    }
    std::memcpy(scores + first, &sum, sizeof sum);
  }
  if (first == count) return;
  float* tail = scores + first;
  const std::int64_t width = count - first;
  for (std::int64_t j = 0; j < width; ++j) tail[j] = 0.0f;
  for (std::int64_t d = 0; d < head_size; ++d) {
    const float x = vector[d];
    const float* column = columns + d * stride + first;
#pragma omp simd
    for (std::int64_t j = 0; j < width; ++j) tail[j] += x * column[j];
  }
}

// accumulator[d] += sum_j weights[j] * rows[j * row_stride + d] for j < count: f32 partial sums
// over blocks of 16 rows, held in vector registers (64 columns of d at a time), each block's sums
// then added to the f64 accumulator, in order. A partial sum's error is at most ~16 ulp of its
// block's magnitude; the f64 accumulator keeps long sequences from growing it.
FTHOST_CPU_VECTOR_CLONES
void accumulate_weighted_rows(double* accumulator, const float* weights, const float* rows,
                              std::int64_t row_stride, std::int64_t count, std::int64_t head_size) {
  using Float16 = float __attribute__((vector_size(64)));
  constexpr std::int64_t kRowsPerPartial = 16;
  for (std::int64_t first = 0; first < count; first += kRowsPerPartial) {
    const std::int64_t last = std::min(count, first + kRowsPerPartial);
    std::int64_t d0 = 0;
    for (; d0 + 64 <= head_size; d0 += 64) {
      Float16 sum0 = {}, sum1 = {}, sum2 = {}, sum3 = {};
      for (std::int64_t j = first; j < last; ++j) {
        const float weight = weights[j];
        const float* row = rows + j * row_stride + d0;
        Float16 c0, c1, c2, c3;
        std::memcpy(&c0, row, sizeof c0);
        std::memcpy(&c1, row + 16, sizeof c1);
        std::memcpy(&c2, row + 32, sizeof c2);
        std::memcpy(&c3, row + 48, sizeof c3);
        sum0 += weight * c0;
        sum1 += weight * c1;
        sum2 += weight * c2;
        sum3 += weight * c3;
      }
      double* out = accumulator + d0;
#pragma omp simd
      for (int i = 0; i < 16; ++i) {
        out[i] += static_cast<double>(sum0[i]);
        out[16 + i] += static_cast<double>(sum1[i]);
        out[32 + i] += static_cast<double>(sum2[i]);
        out[48 + i] += static_cast<double>(sum3[i]);
      }
    }
    for (; d0 < head_size; ++d0) {  // head sizes that are not a multiple of 64
      float sum = 0.0f;
      for (std::int64_t j = first; j < last; ++j) sum += weights[j] * rows[j * row_stride + d0];
      accumulator[d0] += static_cast<double>(sum);
    }
  }
}

// ds[j] = probabilities[j] * (dprobs[j] - delta[j]), the difference taken in f64.
FTHOST_CPU_VECTOR_CLONES
void softmax_gradient(float* ds, const float* probabilities, const float* dprobs, const double* delta,
                      std::int64_t count) {
#pragma omp simd
  for (std::int64_t j = 0; j < count; ++j) {
    ds[j] = static_cast<float>(static_cast<double>(probabilities[j]) * (static_cast<double>(dprobs[j]) - delta[j]));
  }
}

// Forward for queries [t_begin, t_end) of head h in row b.
FTHOST_CPU_VECTOR_CLONES
void attention_forward_queries(const AttentionProblem& p, const float* q, const float* key_columns, const float* v,
                               float* out, float* lse, std::int64_t b, std::int64_t h, std::int64_t t_begin,
                               std::int64_t t_end, AttentionScratch& scratch) {
  const std::int64_t D = p.head_size, g = h / p.group;
  const float* columns = key_columns + p.transposed(b, g, p.kv_heads);
  float* scores = scratch.scores.data();
  double* accumulator = scratch.accumulator_a.data();
  for (std::int64_t t = t_begin; t < t_end; ++t) {
    const std::int64_t first = p.starts[b * p.sequence + t], count = t - first + 1;
    dot_against_columns(q + p.q_row(b, t, h), columns + first, p.sequence, D, count, scores);
#pragma omp simd
    for (std::int64_t j = 0; j < count; ++j) scores[j] *= p.scale;
    const float max_score = max_f32(scores, count);
#pragma omp simd
    for (std::int64_t j = 0; j < count; ++j) scores[j] = exp_f32(scores[j] - max_score);
    const double denominator = sum_f64(scores, count);
    std::fill(accumulator, accumulator + D, 0.0);
    accumulate_weighted_rows(accumulator, scores, v + p.kv_row(b, first, g), p.kv_heads * D, count, D);
    float* o = out + p.q_row(b, t, h);
#pragma omp simd
    for (std::int64_t d = 0; d < D; ++d) o[d] = static_cast<float>(accumulator[d] / denominator);
    lse[p.stat(b, h, t)] = static_cast<float>(static_cast<double>(max_score) + std::log(denominator));
  }
}

// Backward, key pass: dk and dv of keys [s_begin, s_end) of kv head g in row b, summed over the
// group's query heads and over the queries t >= s of s's document.
FTHOST_CPU_VECTOR_CLONES
void attention_backward_keys(const AttentionProblem& p, const float* q, const float* k, const float* v,
                             const float* dout, const float* query_columns, const float* dout_columns,
                             const float* lse, const double* delta, float* dk, float* dv, std::int64_t b,
                             std::int64_t g, std::int64_t s_begin, std::int64_t s_end, AttentionScratch& scratch) {
  const std::int64_t D = p.head_size, T = p.sequence;
  float* probabilities = scratch.scores.data();
  float* dprobs = scratch.dprobs.data();
  float* ds = scratch.weights.data();
  double* dk_sum = scratch.accumulator_a.data();
  double* dv_sum = scratch.accumulator_b.data();
  const std::int32_t* starts = p.starts + b * T;
  for (std::int64_t s = s_begin; s < s_end; ++s) {
    const float* key = k + p.kv_row(b, s, g);
    const float* value = v + p.kv_row(b, s, g);
    std::fill(dk_sum, dk_sum + D, 0.0);
    std::fill(dv_sum, dv_sum + D, 0.0);
    // Queries s .. last see key s (documents are usually contiguous: the rest is a suffix; any
    // query between that starts after s is masked below).
    std::int64_t last = T - 1;
    while (last > s && starts[last] > s) --last;
    const std::int64_t count = last - s + 1;
    for (std::int64_t h = g * p.group; h < (g + 1) * p.group; ++h) {
      dot_against_columns(key, query_columns + p.transposed(b, h, p.heads) + s, T, D, count, probabilities);
      dot_against_columns(value, dout_columns + p.transposed(b, h, p.heads) + s, T, D, count, dprobs);
      const float* lse_row = lse + p.stat(b, h, s);
#pragma omp simd
      for (std::int64_t j = 0; j < count; ++j) probabilities[j] = exp_f32(p.scale * probabilities[j] - lse_row[j]);
      for (std::int64_t j = 0; j < count; ++j) {
        if (starts[s + j] > s) probabilities[j] = 0.0f;  // query s + j is in a later document
      }
      softmax_gradient(ds, probabilities, dprobs, delta + p.stat(b, h, s), count);
      accumulate_weighted_rows(dv_sum, probabilities, dout + p.q_row(b, s, h), p.heads * D, count, D);
      accumulate_weighted_rows(dk_sum, ds, q + p.q_row(b, s, h), p.heads * D, count, D);
    }
    if (dk != nullptr) {
      float* row = dk + p.kv_row(b, s, g);
#pragma omp simd
      for (std::int64_t d = 0; d < D; ++d) {
        row[d] = static_cast<float>(static_cast<double>(row[d]) + static_cast<double>(p.scale) * dk_sum[d]);
      }
    }
    if (dv != nullptr) {
      float* row = dv + p.kv_row(b, s, g);
#pragma omp simd
      for (std::int64_t d = 0; d < D; ++d) row[d] = static_cast<float>(static_cast<double>(row[d]) + dv_sum[d]);
    }
  }
}

// Backward, query pass: dq of queries [t_begin, t_end) of head h in row b.
FTHOST_CPU_VECTOR_CLONES
void attention_backward_queries(const AttentionProblem& p, const float* q, const float* k, const float* dout,
                                const float* key_columns, const float* value_columns, const float* lse,
                                const double* delta, float* dq, std::int64_t b, std::int64_t h, std::int64_t t_begin,
                                std::int64_t t_end, AttentionScratch& scratch) {
  const std::int64_t D = p.head_size, g = h / p.group;
  float* scores = scratch.scores.data();
  float* dprobs = scratch.dprobs.data();
  float* ds = scratch.weights.data();
  double* dq_sum = scratch.accumulator_a.data();
  for (std::int64_t t = t_begin; t < t_end; ++t) {
    const std::int64_t first = p.starts[b * p.sequence + t], count = t - first + 1;
    dot_against_columns(q + p.q_row(b, t, h), key_columns + p.transposed(b, g, p.kv_heads) + first, p.sequence, D,
                        count, scores);
    dot_against_columns(dout + p.q_row(b, t, h), value_columns + p.transposed(b, g, p.kv_heads) + first, p.sequence,
                        D, count, dprobs);
    const float lse_t = lse[p.stat(b, h, t)];
#pragma omp simd
    for (std::int64_t j = 0; j < count; ++j) scores[j] = exp_f32(p.scale * scores[j] - lse_t);  // probabilities
    const double delta_t = delta[p.stat(b, h, t)];
#pragma omp simd
    for (std::int64_t j = 0; j < count; ++j) {
      ds[j] = static_cast<float>(static_cast<double>(scores[j]) * (static_cast<double>(dprobs[j]) - delta_t));
    }
    std::fill(dq_sum, dq_sum + D, 0.0);
    accumulate_weighted_rows(dq_sum, ds, k + p.kv_row(b, first, g), p.kv_heads * D, count, D);
    float* row = dq + p.q_row(b, t, h);
#pragma omp simd
    for (std::int64_t d = 0; d < D; ++d) {
      row[d] = static_cast<float>(static_cast<double>(row[d]) + static_cast<double>(p.scale) * dq_sum[d]);
    }
  }
}

constexpr std::int64_t kRowsPerTask = 16;  // queries or keys per parallel work item

AttentionProblem problem_of(const checks::AttentionDims& dims, float scale, const std::int32_t* starts) {
  return {dims.batch, dims.sequence, dims.heads, dims.kv_heads, dims.head_size, dims.heads / dims.kv_heads,
          scale, starts};
}

void check_doc_start(const std::int32_t* doc_start, std::int64_t batch, std::int64_t sequence, const char* op) {
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t t = 0; t < sequence; ++t) {
      const std::int32_t start = doc_start[b * sequence + t];
      if (start < 0 || start > t) {
        throw std::out_of_range(std::string(op) + ": doc_start[" + std::to_string(b) + ", " + std::to_string(t) +
                                "] = " + std::to_string(start) + " is not in [0, " + std::to_string(t) + "]");
      }
    }
  }
}

// [B, T, heads, D] -> [B, heads, D, T], in tiles of 16 positions so that writes are contiguous.
std::vector<float> transpose_heads(const float* source, const AttentionProblem& p, std::int64_t heads) {
  const std::int64_t T = p.sequence, D = p.head_size;
  std::vector<float> columns(static_cast<std::size_t>(p.batch * heads * D * T));
#pragma omp parallel for schedule(static)
  for (std::int64_t index = 0; index < p.batch * heads; ++index) {
    const std::int64_t b = index / heads, h = index % heads;
    float* destination = columns.data() + index * D * T;
    for (std::int64_t t0 = 0; t0 < T; t0 += 16) {
      const std::int64_t t1 = std::min(T, t0 + 16);
      for (std::int64_t d = 0; d < D; ++d) {
        for (std::int64_t t = t0; t < t1; ++t) destination[d * T + t] = source[((b * T + t) * heads + h) * D + d];
      }
    }
  }
  return columns;
}

// Calls task(b, head, first, last) for every block of kRowsPerTask rows of every (b, head), in
// parallel; blocks later in the sequence carry more work, hence dynamic scheduling.
template <typename Task>
void for_each_row_block(const AttentionProblem& p, std::int64_t heads, Task task) {
  const std::int64_t blocks = (p.sequence + kRowsPerTask - 1) / kRowsPerTask;
  const std::int64_t tasks = p.batch * heads * blocks;
#pragma omp parallel
  {
    AttentionScratch scratch(p);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t index = 0; index < tasks; ++index) {
      const std::int64_t block = index % blocks, head = (index / blocks) % heads, b = index / (blocks * heads);
      const std::int64_t first = block * kRowsPerTask;
      task(b, head, first, std::min(p.sequence, first + kRowsPerTask), scratch);
    }
  }
}

}  // namespace

void CpuBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& doc_start, float scale) {
  const checks::AttentionDims dims = checks::attention_forward(device(), out, lse, q, k, v, doc_start);
  const std::int32_t* starts = doc_start.i32();
  check_doc_start(starts, dims.batch, dims.sequence, "attention_forward");
  const AttentionProblem p = problem_of(dims, scale, starts);
  const std::vector<float> key_columns = transpose_heads(k.f32(), p, p.kv_heads);
  const float* qd = q.f32();
  const float* vd = v.f32();
  float* od = out.f32();
  float* lsed = lse.f32();
  for_each_row_block(p, p.heads, [&](std::int64_t b, std::int64_t h, std::int64_t first, std::int64_t last,
                                     AttentionScratch& scratch) {
    attention_forward_queries(p, qd, key_columns.data(), vd, od, lsed, b, h, first, last, scratch);
  });
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, const Tensor& doc_start, float scale) {
  // With p[t,s] = exp(scale q_t.k_s - lse_t), dp[t,s] = dout_t.v_s and delta_t = dout_t.out_t:
  //   ds[t,s] = p (dp - delta_t);  dq_t += scale sum_s ds k_s;  dk_s += scale sum_t ds q_t;
  //   dv_s += sum_t p dout_t.
  // A key pass over (b, kv head, s) sums dk and dv over the group's query heads and the queries
  // that see s; a query pass sums dq. Both recompute p from lse; no atomics anywhere.
  const checks::AttentionDims dims =
      checks::attention_backward(device(), dq, dk, dv, dout, q, k, v, out, lse, doc_start);
  if (!dq.defined() && !dk.defined() && !dv.defined()) return;
  const std::int32_t* starts = doc_start.i32();
  check_doc_start(starts, dims.batch, dims.sequence, "attention_backward");
  const AttentionProblem p = problem_of(dims, scale, starts);
  const float* qd = q.f32();
  const float* kd = k.f32();
  const float* vd = v.f32();
  const float* gd = dout.f32();
  const float* od = out.f32();
  const float* lsed = lse.f32();

  // delta [B,H,T] = dout . out per query: the softmax Jacobian's correction term.
  std::vector<double> delta(static_cast<std::size_t>(p.batch * p.heads * p.sequence));
#pragma omp parallel for schedule(static)
  for (std::int64_t index = 0; index < p.batch * p.sequence * p.heads; ++index) {
    const std::int64_t h = index % p.heads, t = (index / p.heads) % p.sequence, b = index / (p.heads * p.sequence);
    delta[static_cast<std::size_t>(p.stat(b, h, t))] = dot_f64(gd + p.q_row(b, t, h), od + p.q_row(b, t, h), p.head_size);
  }

  if (dk.defined() || dv.defined()) {
    const std::vector<float> query_columns = transpose_heads(qd, p, p.heads);
    const std::vector<float> dout_columns = transpose_heads(gd, p, p.heads);
    float* dkd = dk.defined() ? dk.f32() : nullptr;
    float* dvd = dv.defined() ? dv.f32() : nullptr;
    for_each_row_block(p, p.kv_heads, [&](std::int64_t b, std::int64_t g, std::int64_t first, std::int64_t last,
                                          AttentionScratch& scratch) {
      attention_backward_keys(p, qd, kd, vd, gd, query_columns.data(), dout_columns.data(), lsed, delta.data(), dkd,
                              dvd, b, g, first, last, scratch);
    });
  }
  if (dq.defined()) {
    const std::vector<float> key_columns = transpose_heads(kd, p, p.kv_heads);
    const std::vector<float> value_columns = transpose_heads(vd, p, p.kv_heads);
    float* dqd = dq.f32();
    for_each_row_block(p, p.heads, [&](std::int64_t b, std::int64_t h, std::int64_t first, std::int64_t last,
                                       AttentionScratch& scratch) {
      attention_backward_queries(p, qd, kd, gd, key_columns.data(), value_columns.data(), lsed, delta.data(), dqd, b,
                                 h, first, last, scratch);
    });
  }
}

}  // namespace fthost::backend::cpu
