// Causal self-attention inside documents on the CPU backend, flash-style: no [T,T] matrix. Each
// query row computes its scores into a per-thread buffer of length T, and the backward pass
// recomputes the probabilities from the saved log-sum-exp.
//
// Layout: q [B,T,H,D], k and v [B,T,KV,D], out [B,T,H,D], lse [B,H,T], doc_start [B,T].
// Query head h reads key/value head h / (H / KV) (grouped-query attention). Query t attends keys
// s in [doc_start[t], t]. Scores are q.k dot products in f32 (dot_f32); softmax sums and the
// weighted sums of values are accumulated in f64.

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// Strides of the [B,T,heads,D] tensors, in elements.
struct AttentionLayout {
  std::int64_t batch, sequence, heads, kv_heads, head_size, group;  // group = H / KV
  std::int64_t q_row(std::int64_t b, std::int64_t t, std::int64_t h) const {
    return ((b * sequence + t) * heads + h) * head_size;
  }
  std::int64_t kv_row(std::int64_t b, std::int64_t s, std::int64_t g) const {
    return ((b * sequence + s) * kv_heads + g) * head_size;
  }
  std::int64_t lse_index(std::int64_t b, std::int64_t h, std::int64_t t) const {
    return (b * heads + h) * sequence + t;
  }
};

AttentionLayout layout_of(const checks::AttentionDims& dims) {
  return {dims.batch, dims.sequence, dims.heads, dims.kv_heads, dims.head_size, dims.heads / dims.kv_heads};
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

}  // namespace

void CpuBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& doc_start, float scale) {
  const AttentionLayout L = layout_of(checks::attention_forward(device(), out, lse, q, k, v, doc_start));
  const std::int32_t* starts = doc_start.i32();
  check_doc_start(starts, L.batch, L.sequence, "attention_forward");
  const float* qd = q.f32();
  const float* kd = k.f32();
  const float* vd = v.f32();
  float* od = out.f32();
  float* lsed = lse.f32();
  const std::int64_t D = L.head_size;
  const std::int64_t queries = L.batch * L.heads * L.sequence;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(L.sequence));
    std::vector<double> accumulator(static_cast<std::size_t>(D));
    // Work grows with t: dynamic chunks balance it; each query is still computed by one thread.
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t index = 0; index < queries; ++index) {
      const std::int64_t t = index % L.sequence;
      const std::int64_t h = (index / L.sequence) % L.heads;
      const std::int64_t b = index / (L.sequence * L.heads);
      const std::int64_t g = h / L.group;
      const std::int64_t first = starts[b * L.sequence + t];
      const float* query = qd + L.q_row(b, t, h);

      float max_score = -std::numeric_limits<float>::infinity();
      for (std::int64_t s = first; s <= t; ++s) {
        const float score = scale * dot_f32(query, kd + L.kv_row(b, s, g), D);
        scores[static_cast<std::size_t>(s - first)] = score;
        max_score = std::max(max_score, score);
      }
      double denominator = 0.0;
      std::fill(accumulator.begin(), accumulator.end(), 0.0);
      double* acc = accumulator.data();
      for (std::int64_t s = first; s <= t; ++s) {
        const double weight = static_cast<double>(std::exp(scores[static_cast<std::size_t>(s - first)] - max_score));
        denominator += weight;
        const float* value = vd + L.kv_row(b, s, g);
#pragma omp simd
        for (std::int64_t d = 0; d < D; ++d) acc[d] += weight * static_cast<double>(value[d]);
      }
      float* o = od + L.q_row(b, t, h);
      for (std::int64_t d = 0; d < D; ++d) o[d] = static_cast<float>(acc[d] / denominator);
      lsed[L.lse_index(b, h, t)] = static_cast<float>(static_cast<double>(max_score) + std::log(denominator));
    }
  }
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, const Tensor& doc_start, float scale) {
  // With p[t,s] = exp(scale q_t.k_s - lse_t), dp[t,s] = dout_t.v_s and delta_t = dout_t.out_t:
  //   ds[t,s] = p (dp - delta_t);  dq_t += scale sum_s ds k_s;  dk_s += scale sum_t ds q_t;
  //   dv_s += sum_t p dout_t.
  // Two passes, each output row owned by one thread (no atomics, same bits for any thread count):
  // pass 1 over keys (b, kv head, s) sums dk and dv over the group's query heads and the queries
  // that see s; pass 2 over queries sums dq. Both recompute p from lse.
  const AttentionLayout L =
      layout_of(checks::attention_backward(device(), dq, dk, dv, dout, q, k, v, out, lse, doc_start));
  if (!dq.defined() && !dk.defined() && !dv.defined()) return;
  const std::int32_t* starts = doc_start.i32();
  check_doc_start(starts, L.batch, L.sequence, "attention_backward");
  const float* qd = q.f32();
  const float* kd = k.f32();
  const float* vd = v.f32();
  const float* gd = dout.f32();
  const float* od = out.f32();
  const float* lsed = lse.f32();
  const std::int64_t D = L.head_size;

  // delta [B,H,T] = dout . out per query (the softmax Jacobian's diagonal correction)
  const std::int64_t queries = L.batch * L.heads * L.sequence;
  std::vector<double> delta(static_cast<std::size_t>(queries));
#pragma omp parallel for schedule(static)
  for (std::int64_t index = 0; index < queries; ++index) {
    const std::int64_t t = index % L.sequence;
    const std::int64_t h = (index / L.sequence) % L.heads;
    const std::int64_t b = index / (L.sequence * L.heads);
    delta[static_cast<std::size_t>(L.lse_index(b, h, t))] = dot_f64(gd + L.q_row(b, t, h), od + L.q_row(b, t, h), D);
  }

  if (dk.defined() || dv.defined()) {
    float* dkd = dk.defined() ? dk.f32() : nullptr;
    float* dvd = dv.defined() ? dv.f32() : nullptr;
    const std::int64_t keys = L.batch * L.kv_heads * L.sequence;
#pragma omp parallel
    {
      std::vector<double> dk_acc(static_cast<std::size_t>(D)), dv_acc(static_cast<std::size_t>(D));
#pragma omp for schedule(dynamic, 16)
      for (std::int64_t index = 0; index < keys; ++index) {
        const std::int64_t s = index % L.sequence;
        const std::int64_t g = (index / L.sequence) % L.kv_heads;
        const std::int64_t b = index / (L.sequence * L.kv_heads);
        const float* key = kd + L.kv_row(b, s, g);
        const float* value = vd + L.kv_row(b, s, g);
        std::fill(dk_acc.begin(), dk_acc.end(), 0.0);
        std::fill(dv_acc.begin(), dv_acc.end(), 0.0);
        double* dka = dk_acc.data();
        double* dva = dv_acc.data();
        for (std::int64_t h = g * L.group; h < (g + 1) * L.group; ++h) {
          for (std::int64_t t = s; t < L.sequence; ++t) {
            if (starts[b * L.sequence + t] > s) continue;  // query t is in a later document
            const float* query = qd + L.q_row(b, t, h);
            const float* grad = gd + L.q_row(b, t, h);
            const std::int64_t stat = L.lse_index(b, h, t);
            const float p = std::exp(scale * dot_f32(query, key, D) - lsed[stat]);
            const double weight = static_cast<double>(p);
            if (dvd != nullptr) {
#pragma omp simd
              for (std::int64_t d = 0; d < D; ++d) dva[d] += weight * static_cast<double>(grad[d]);
            }
            if (dkd != nullptr) {
              const double ds =
                  weight * (static_cast<double>(dot_f32(grad, value, D)) - delta[static_cast<std::size_t>(stat)]);
#pragma omp simd
              for (std::int64_t d = 0; d < D; ++d) dka[d] += ds * static_cast<double>(query[d]);
            }
          }
        }
        const std::int64_t row = L.kv_row(b, s, g);
        if (dkd != nullptr) {
          for (std::int64_t d = 0; d < D; ++d) {
            dkd[row + d] = static_cast<float>(static_cast<double>(dkd[row + d]) + static_cast<double>(scale) * dka[d]);
          }
        }
        if (dvd != nullptr) {
          for (std::int64_t d = 0; d < D; ++d) {
            dvd[row + d] = static_cast<float>(static_cast<double>(dvd[row + d]) + dva[d]);
          }
        }
      }
    }
  }

  if (dq.defined()) {
    float* dqd = dq.f32();
#pragma omp parallel
    {
      std::vector<double> dq_acc(static_cast<std::size_t>(D));
#pragma omp for schedule(dynamic, 16)
      for (std::int64_t index = 0; index < queries; ++index) {
        const std::int64_t t = index % L.sequence;
        const std::int64_t h = (index / L.sequence) % L.heads;
        const std::int64_t b = index / (L.sequence * L.heads);
        const std::int64_t g = h / L.group;
        const float* query = qd + L.q_row(b, t, h);
        const float* grad = gd + L.q_row(b, t, h);
        const std::int64_t stat = L.lse_index(b, h, t);
        std::fill(dq_acc.begin(), dq_acc.end(), 0.0);
        double* dqa = dq_acc.data();
        for (std::int64_t s = starts[b * L.sequence + t]; s <= t; ++s) {
          const float* key = kd + L.kv_row(b, s, g);
          const float p = std::exp(scale * dot_f32(query, key, D) - lsed[stat]);
          const double dp = static_cast<double>(dot_f32(grad, vd + L.kv_row(b, s, g), D));
          const double ds = static_cast<double>(p) * (dp - delta[static_cast<std::size_t>(stat)]);
#pragma omp simd
          for (std::int64_t d = 0; d < D; ++d) dqa[d] += ds * static_cast<double>(key[d]);
        }
        float* dq_row = dqd + L.q_row(b, t, h);
        for (std::int64_t d = 0; d < D; ++d) {
          dq_row[d] = static_cast<float>(static_cast<double>(dq_row[d]) + static_cast<double>(scale) * dqa[d]);
        }
      }
    }
  }
}

}  // namespace fthost::backend::cpu
