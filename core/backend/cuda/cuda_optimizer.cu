// AdamW on the CUDA backend: cpu/cpu_optimizer.cpp's per-element arithmetic (torch's order), one
// thread per element. The CPU is built with -ffp-contract=off; the _rn intrinsics are never fused
// into multiply-adds and __fsqrt_rn / __fdiv_rn are IEEE whatever the compiler flags, so a step
// gives the CPU's bits.

#include <cmath>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

// torch.lerp switches formulas at weight 0.5; the host picks the instantiation, as the CPU does.
template <bool kLerpWeightSmall>
__global__ void adamw_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                             float* __restrict__ v, i64 n, AdamWScalars k) {
  const float one_minus_lerp_weight = __fsub_rn(1.0f, k.lerp_weight);
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const float decayed = __fmul_rn(param[i], k.decay);
    const float g = grad[i];
    const float previous = m[i];
    const float difference = __fsub_rn(g, previous);
    // m + w (g - m), or g - (g - m)(1 - w)
    const float first = kLerpWeightSmall ? __fadd_rn(previous, __fmul_rn(k.lerp_weight, difference))
                                         : __fsub_rn(g, __fmul_rn(difference, one_minus_lerp_weight));
    // v beta2 + ((1 - beta2) g) g
    const float second = __fadd_rn(__fmul_rn(v[i], k.beta2), __fmul_rn(__fmul_rn(k.square_weight, g), g));
    // sqrt(v) / sqrt(bias_correction2) + eps
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(second), k.bias_correction2_sqrt), k.eps);
    m[i] = first;
    v[i] = second;
    // param + (-step_size m) / denom
    param[i] = __fadd_rn(decayed, __fdiv_rn(__fmul_rn(k.negative_step_size, first), denom));
  }
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, i64 n, const AdamWScalars& scalars,
                cudaStream_t stream) {
  if (n <= 0) return;
  if (std::abs(scalars.lerp_weight) < 0.5f) {
    FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, adamw_kernel<true>)(param, grad, m, v, n, scalars);
  } else {
    FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, adamw_kernel<false>)(param, grad, m, v, n, scalars);
  }
  check_launch("adamw_step");
}

}  // namespace fthost::backend::cuda::kernels
