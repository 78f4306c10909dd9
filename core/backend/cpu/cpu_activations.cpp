// SwiGLU (Llama's MLP) and GPT-2's gelu_new on the CPU backend, in f32 with the same operation
// order as PyTorch's kernels (silu = x / (1 + exp(-x)); gelu_new as transformers' NewGELU).

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

constexpr float kSqrtTwoOverPi = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;
constexpr std::int64_t kBlock = 1 << 14;  // elements per parallel work item

// silu(x) = x / (1 + e^-x), PyTorch's formula; exp_f32 (cpu_loops.hpp) lets the loops vectorise.
FTHOST_CPU_VECTOR_CLONES
void swiglu_forward_block(float* out, const float* gate, const float* up, std::int64_t count) {
#pragma omp simd
  for (std::int64_t i = 0; i < count; ++i) out[i] = gate[i] / (1.0f + exp_f32(-gate[i])) * up[i];
}

// silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))
FTHOST_CPU_VECTOR_CLONES
void swiglu_backward_block(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                           std::int64_t count) {
  if (dgate != nullptr) {
#pragma omp simd
    for (std::int64_t i = 0; i < count; ++i) {
      const float s = 1.0f / (1.0f + exp_f32(-gate[i]));
      dgate[i] += dout[i] * up[i] * (s * (1.0f + gate[i] * (1.0f - s)));
    }
  }
  if (dup != nullptr) {
#pragma omp simd
    for (std::int64_t i = 0; i < count; ++i) dup[i] += dout[i] * (gate[i] / (1.0f + exp_f32(-gate[i])));
  }
}

}  // namespace

void CpuBackend::swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) {
  // out [N,F] = silu(gate) * up
  const std::int64_t elements = checks::swiglu_forward(device(), out, gate, up);
  const float* g = gate.f32();
  const float* u = up.f32();
  float* o = out.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t first = 0; first < elements; first += kBlock) {
    swiglu_forward_block(o + first, g + first, u + first, std::min(kBlock, elements - first));
  }
}

void CpuBackend::swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                                 const Tensor& up) {
  const std::int64_t elements = checks::swiglu_backward(device(), dgate, dup, dout, gate, up);
  float* dg = dgate.defined() ? dgate.f32() : nullptr;
  float* du = dup.defined() ? dup.f32() : nullptr;
  if (dg == nullptr && du == nullptr) return;
  const float* g = gate.f32();
  const float* u = up.f32();
  const float* dy = dout.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t first = 0; first < elements; first += kBlock) {
    swiglu_backward_block(dg != nullptr ? dg + first : nullptr, du != nullptr ? du + first : nullptr, dy + first,
                          g + first, u + first, std::min(kBlock, elements - first));
  }
}

void CpuBackend::gelu_forward(const Tensor& out, const Tensor& inp) {
  // out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const std::int64_t elements = checks::gelu_forward(device(), out, inp);
  const float* x = inp.f32();
  float* o = out.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) {
    const float v = x[i];
    o[i] = 0.5f * v * (1.0f + std::tanh(kSqrtTwoOverPi * (v + kGeluCubic * (v * v * v))));
  }
}

void CpuBackend::gelu_backward(const Tensor& dinp, const Tensor& dout, const Tensor& inp) {
  // d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
  // u = sqrt(2/pi) (x + 0.044715 x^3); 1 - tanh^2 instead of 1/cosh^2, which overflows.
  const std::int64_t elements = checks::gelu_backward(device(), dinp, dout, inp);
  if (!dinp.defined()) return;
  const float* x = inp.f32();
  const float* dy = dout.f32();
  float* dx = dinp.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) {
    const float v = x[i];
    const float t = std::tanh(kSqrtTwoOverPi * (v + kGeluCubic * (v * v * v)));
    const float local = 0.5f * (1.0f + t) +
                        0.5f * v * (1.0f - t * t) * kSqrtTwoOverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    dx[i] += dy[i] * local;
  }
}

}  // namespace fthost::backend::cpu
