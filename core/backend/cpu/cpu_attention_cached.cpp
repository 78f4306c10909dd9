// Attention of new queries against a key/value cache, for generation on the CPU backend. The
// work per token is one pass over the cache per head, small next to the projections, so the
// kernel is plain: scores in f32 (the same dot products as training's attention, summed over d
// in order), softmax and the weighted sum of values in f64.
//
// Layout: q, out [T,H,D]; k_cache, v_cache [S,KV,D]. Query t (position past + t) attends keys
// 0 .. past + t; query head h reads key/value head h / (H / KV).

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {

void CpuBackend::attention_cached(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                  std::int64_t past, float scale) {
  const checks::AttentionDims dims = checks::attention_cached(device(), out, q, k_cache, v_cache, past);
  const std::int64_t T = dims.sequence, H = dims.heads, KV = dims.kv_heads, D = dims.head_size;
  const std::int64_t group = H / KV;
  const float* queries = q.f32();
  const float* keys = k_cache.f32();
  const float* values = v_cache.f32();
  float* output = out.f32();
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<std::size_t>(past + T));
    std::vector<double> sum(static_cast<std::size_t>(D));
#pragma omp for schedule(static) collapse(2)
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t keys_seen = past + t + 1;
        const float* query = queries + (t * H + h) * D;
        const std::int64_t kv_head = h / group;
        float best = -INFINITY;
        for (std::int64_t s = 0; s < keys_seen; ++s) {
          const float* key = keys + (s * KV + kv_head) * D;
          float dot = 0.0f;
          for (std::int64_t d = 0; d < D; ++d) dot += query[d] * key[d];
          scores[static_cast<std::size_t>(s)] = dot * scale;
          best = std::max(best, scores[static_cast<std::size_t>(s)]);
        }
        double denominator = 0.0;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (std::int64_t s = 0; s < keys_seen; ++s) {
          const double weight = std::exp(static_cast<double>(scores[static_cast<std::size_t>(s)] - best));
          denominator += weight;
          const float* value = values + (s * KV + kv_head) * D;
          for (std::int64_t d = 0; d < D; ++d) sum[static_cast<std::size_t>(d)] += weight * static_cast<double>(value[d]);
        }
        float* row = output + (t * H + h) * D;
        for (std::int64_t d = 0; d < D; ++d) row[d] = static_cast<float>(sum[static_cast<std::size_t>(d)] / denominator);
      }
    }
  }
}

}  // namespace fthost::backend::cpu
