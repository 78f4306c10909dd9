// SwiGLU (Llama's MLP) and GPT-2's gelu_new on the CUDA backend, elementwise in f32 with
// cpu_activations.cpp's expressions in the same order (silu = x / (1 + exp(-x)) as PyTorch's;
// gelu_new as transformers' NewGELU). CUDA's expf and tanhf stand where the CPU has exp_f32 and
// glibc's tanhf, so values agree to an ulp or two.

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

constexpr float kSqrtTwoOverPi = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// out[n] = silu(gate) * up
__global__ void swiglu_forward_kernel(float* __restrict__ out, const float* __restrict__ gate,
                                      const float* __restrict__ up, i64 n) {
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// dgate += dout * up * silu'(gate) with silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)));
// dup += dout * silu(gate). Either output may be null.
__global__ void swiglu_backward_kernel(float* __restrict__ dgate, float* __restrict__ dup,
                                       const float* __restrict__ dout, const float* __restrict__ gate,
                                       const float* __restrict__ up, i64 n) {
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float dy = dout[i];
    const float denominator = 1.0f + expf(-g);
    if (dgate != nullptr) {
      const float s = 1.0f / denominator;
      dgate[i] += dy * up[i] * (s * (1.0f + g * (1.0f - s)));
    }
    if (dup != nullptr) dup[i] += dy * (g / denominator);
  }
}

// out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
__global__ void gelu_forward_kernel(float* __restrict__ out, const float* __restrict__ inp, i64 n) {
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const float v = inp[i];
    out[i] = 0.5f * v * (1.0f + tanhf(kSqrtTwoOverPi * (v + kGeluCubic * (v * v * v))));
  }
}

// dinp += dout * (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)),
// u = sqrt(2/pi) (x + 0.044715 x^3); 1 - tanh^2 rather than 1/cosh^2, which overflows.
__global__ void gelu_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                                     const float* __restrict__ inp, i64 n) {
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const float v = inp[i];
    const float t = tanhf(kSqrtTwoOverPi * (v + kGeluCubic * (v * v * v)));
    const float local =
        0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kSqrtTwoOverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    dinp[i] += dout[i] * local;
  }
}

}  // namespace

void swiglu_forward(float* out, const float* gate, const float* up, i64 n, cudaStream_t stream) {
  if (n == 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, swiglu_forward_kernel)(out, gate, up, n);
  check_launch("swiglu_forward");
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, i64 n,
                     cudaStream_t stream) {
  if (n == 0 || (dgate == nullptr && dup == nullptr)) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, swiglu_backward_kernel)(dgate, dup, dout, gate, up, n);
  check_launch("swiglu_backward");
}

void gelu_forward(float* out, const float* inp, i64 n, cudaStream_t stream) {
  if (n == 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, gelu_forward_kernel)(out, inp, n);
  check_launch("gelu_forward");
}

void gelu_backward(float* dinp, const float* dout, const float* inp, i64 n, cudaStream_t stream) {
  if (n == 0 || dinp == nullptr) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, gelu_backward_kernel)(dinp, dout, inp, n);
  check_launch("gelu_backward");
}

}  // namespace fthost::backend::cuda::kernels
