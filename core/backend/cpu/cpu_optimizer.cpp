// AdamW on the CPU backend, in the arithmetic order of torch.optim.AdamW's single-tensor path
// (foreach=False, torch/optim/adamw.py) and of the ATen CPU kernels it calls, so that fthost and
// PyTorch agree to an ulp:
//   param.mul_(1 - lr * weight_decay)                      scalar in f64, rounded to f32
//   exp_avg.lerp_(grad, 1 - beta1)                         m + w (g - m) for w < 0.5, else g - (g - m)(1 - w)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)   v beta2 + ((1 - beta2) g) g
//   bias_correction1 = 1 - beta1 ** step; bias_correction2 = 1 - beta2 ** step   (f64)
//   step_size = lr / bias_correction1; bias_correction2_sqrt = sqrt(bias_correction2)   (f64)
//   denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//   param.addcdiv_(exp_avg, denom, value=-step_size)       param + (-step_size m) / denom
// ATen's AVX kernels fuse the lerp into one multiply-add; we do not, so a moment may differ from
// torch's in the last bit.

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// The f32 scalars of one step, derived in f64 as torch derives them.
struct AdamWScalars {
  float decay, lerp_weight, beta2, square_weight, negative_step_size, bias_correction2_sqrt, eps;
};

template <bool kLerpWeightSmall>
void adamw_elements(float* param, const float* grad, float* m, float* v, std::int64_t count, const AdamWScalars& k) {
#pragma omp simd
  for (std::int64_t i = 0; i < count; ++i) {
    const float decayed = param[i] * k.decay;
    const float g = grad[i];
    const float first =
        kLerpWeightSmall ? m[i] + k.lerp_weight * (g - m[i]) : g - (g - m[i]) * (1.0f - k.lerp_weight);
    const float second = v[i] * k.beta2 + k.square_weight * g * g;
    const float denom = std::sqrt(second) / k.bias_correction2_sqrt + k.eps;
    m[i] = first;
    v[i] = second;
    param[i] = decayed + k.negative_step_size * first / denom;
  }
}

FTHOST_CPU_VECTOR_CLONES
void adamw_block(float* param, const float* grad, float* m, float* v, std::int64_t count, const AdamWScalars& k) {
  // torch.lerp switches formulas at weight 0.5 (1 - beta1 is 0.1 in practice).
  if (std::abs(k.lerp_weight) < 0.5f) {
    adamw_elements<true>(param, grad, m, v, count, k);
  } else {
    adamw_elements<false>(param, grad, m, v, count, k);
  }
}

}  // namespace

void CpuBackend::adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                            double beta1, double beta2, double eps, double weight_decay, std::int64_t step) {
  // param, grad, m, v: the same element count
  const std::int64_t elements = checks::adamw_step(device(), param, grad, m, v, step);
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const AdamWScalars scalars{static_cast<float>(1.0 - lr * weight_decay),
                             static_cast<float>(1.0 - beta1),
                             static_cast<float>(beta2),
                             static_cast<float>(1.0 - beta2),
                             static_cast<float>(-(lr / bias_correction1)),
                             static_cast<float>(std::sqrt(bias_correction2)),
                             static_cast<float>(eps)};
  float* p = param.f32();
  const float* g = grad.f32();
  float* m1 = m.f32();
  float* m2 = v.f32();
  constexpr std::int64_t kBlock = 1 << 14;
  const std::int64_t blocks = (elements + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t first = block * kBlock;
    adamw_block(p + first, g + first, m1 + first, m2 + first, std::min(kBlock, elements - first), scalars);
  }
}

}  // namespace fthost::backend::cpu
