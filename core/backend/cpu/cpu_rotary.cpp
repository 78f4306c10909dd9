// Rotary position embedding (Hugging Face Llama's rotate_half convention) on the CPU backend.
//
// For each row n and i < D/2, with angle = positions[n] * inv_freq[i]:
//   forward:  y[i] = x[i] cos - x[i + D/2] sin,   y[i + D/2] = x[i + D/2] cos + x[i] sin
//   inverse:  the transpose (sin negated), which is the backward pass of the rotation.
// The angle, cos and sin are computed in f32 as transformers does (freqs = inv_freq @ positions in
// f32, then emb.cos() / emb.sin()), so results agree with PyTorch's to an ulp or two.

#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {

void CpuBackend::rotary_inplace(const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
                                RotaryDirection direction) {
  // x [N, heads, D], positions [N] (i32), inv_freq [D/2]
  const checks::RotaryDims dims = checks::rotary(device(), x, positions, inv_freq);
  const std::int64_t heads = dims.heads, head_size = dims.head_size, half = head_size / 2;
  const std::int32_t* position = positions.i32();
  const float* frequency = inv_freq.f32();
  float* data = x.f32();
  const float sin_sign = direction == RotaryDirection::forward ? 1.0f : -1.0f;
#pragma omp parallel
  {
    std::vector<float> cos_row(static_cast<std::size_t>(half)), sin_row(static_cast<std::size_t>(half));
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < dims.rows; ++n) {
      const float p = static_cast<float>(position[n]);
      for (std::int64_t i = 0; i < half; ++i) {
        const float angle = p * frequency[i];
        cos_row[static_cast<std::size_t>(i)] = std::cos(angle);
        sin_row[static_cast<std::size_t>(i)] = sin_sign * std::sin(angle);
      }
      const float* c = cos_row.data();
      const float* s = sin_row.data();
      for (std::int64_t h = 0; h < heads; ++h) {
        float* first = data + (n * heads + h) * head_size;
        float* second = first + half;
#pragma omp simd
        for (std::int64_t i = 0; i < half; ++i) {
          const float a = first[i], b = second[i];
          first[i] = a * c[i] - b * s[i];
          second[i] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

}  // namespace fthost::backend::cpu
