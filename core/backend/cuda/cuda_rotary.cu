// Rotary position embedding (Hugging Face Llama's rotate_half convention) on the CUDA backend, as
// cpu_rotary.cpp computes it: for row n and i < D/2, angle = f32(positions[n]) * inv_freq[i] in f32,
//   forward:  y[i] = x[i] cos - x[i + D/2] sin,   y[i + D/2] = x[i + D/2] cos + x[i] sin
//   inverse:  sin negated (the transpose rotation, the backward pass).
// cosf/sinf are CUDA's (within 2 ulp) where the CPU has glibc's: the values agree to an ulp or two.

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

// x [N, heads, D] in place; block n = row n. The angles depend on n and i only, so each block
// evaluates cos and sin once per frequency into shared memory (a tile of kThreads frequencies at
// a time, whatever D is) and applies them to every head.
__global__ void rotary_kernel(float* __restrict__ x, const std::int32_t* __restrict__ positions,
                              const float* __restrict__ inv_freq, i64 heads, i64 head_size, float sin_sign) {
  __shared__ float cos_tile[kThreads];
  __shared__ float sin_tile[kThreads];
  const i64 row = blockIdx.x;
  const i64 half = head_size / 2;
  const float p = static_cast<float>(positions[row]);
  float* row_data = x + row * heads * head_size;
  for (i64 tile_first = 0; tile_first < half; tile_first += kThreads) {
    const i64 tile_width = half - tile_first < kThreads ? half - tile_first : kThreads;
    __syncthreads();  // the previous tile's values may still be read
    if (threadIdx.x < tile_width) {
      const float angle = p * inv_freq[tile_first + threadIdx.x];
      cos_tile[threadIdx.x] = cosf(angle);
      sin_tile[threadIdx.x] = sin_sign * sinf(angle);
    }
    __syncthreads();
    // Consecutive threads take consecutive i within a head: coalesced over each half.
    // 32-bit index math: one row holds heads * D elements, far below 2^31.
    const int width = static_cast<int>(tile_width);
    const int pairs = static_cast<int>(heads) * width;
    for (int k = static_cast<int>(threadIdx.x); k < pairs; k += static_cast<int>(blockDim.x)) {
      const int h = k / width;
      const int j = k - h * width;
      float* first = row_data + static_cast<i64>(h) * head_size + tile_first + j;
      float* second = first + half;
      const float a = *first, b = *second;
      const float c = cos_tile[j], s = sin_tile[j];
      *first = a * c - b * s;
      *second = b * c + a * s;
    }
  }
}

}  // namespace

void rotary(float* x, const std::int32_t* positions, const float* inv_freq, i64 rows, i64 heads, i64 head_size,
            bool inverse, cudaStream_t stream) {
  if (rows == 0 || heads == 0 || head_size < 2) return;
  const float sin_sign = inverse ? -1.0f : 1.0f;
  FTHOST_LAUNCH(static_cast<unsigned>(rows), kThreads, 0, stream, rotary_kernel)(
      x, positions, inv_freq, heads, head_size, sin_sign);
  check_launch("rotary");
}

}  // namespace fthost::backend::cuda::kernels
