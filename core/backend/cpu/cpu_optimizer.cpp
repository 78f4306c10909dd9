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

#include <cmath>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {

void CpuBackend::adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                            double beta1, double beta2, double eps, double weight_decay, std::int64_t step) {
  // param, grad, m, v: the same element count
  const std::int64_t elements = checks::adamw_step(device(), param, grad, m, v, step);
  const auto decay = static_cast<float>(1.0 - lr * weight_decay);
  const auto lerp_weight = static_cast<float>(1.0 - beta1);
  const bool lerp_weight_small = std::abs(lerp_weight) < 0.5f;
  const auto beta2_f = static_cast<float>(beta2);
  const auto square_weight = static_cast<float>(1.0 - beta2);
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const auto negative_step_size = static_cast<float>(-(lr / bias_correction1));
  const auto bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const auto eps_f = static_cast<float>(eps);
  float* p = param.f32();
  const float* g = grad.f32();
  float* m1 = m.f32();
  float* m2 = v.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) {
    const float decayed = p[i] * decay;
    const float gi = g[i];
    const float first = lerp_weight_small ? m1[i] + lerp_weight * (gi - m1[i])
                                          : gi - (gi - m1[i]) * (1.0f - lerp_weight);
    const float second = m2[i] * beta2_f + square_weight * gi * gi;
    const float denom = std::sqrt(second) / bias_correction2_sqrt + eps_f;
    m1[i] = first;
    m2[i] = second;
    p[i] = decayed + negative_step_size * first / denom;
  }
}

}  // namespace fthost::backend::cpu
