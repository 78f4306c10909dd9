// Softmax cross-entropy over rows of logits on the CPU backend, with the gradient written over the
// logits (llm.c's fused classifier): the [N,V] probabilities are never a separate buffer.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

constexpr std::int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

}  // namespace

void CpuBackend::cross_entropy_rows(const Tensor& losses, const Tensor& logits, const Tensor& targets,
                                    float gradient_scale) {
  // logits [N,V], targets [N] (i32, -100 = ignored) -> losses [N]; logits := (softmax - onehot) * scale
  const checks::CrossEntropyDims dims = checks::cross_entropy_rows(device(), losses, logits, targets);
  const std::int64_t vocabulary = dims.vocabulary;
  const std::int32_t* target = targets.i32();
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    if (target[n] != kIgnoreIndex && (target[n] < 0 || target[n] >= vocabulary)) {
      throw std::out_of_range("cross_entropy_rows: targets[" + std::to_string(n) + "] = " +
                              std::to_string(target[n]) + " is neither -100 nor in [0, " +
                              std::to_string(vocabulary) + ")");
    }
  }
  float* logit_rows = logits.f32();
  float* loss = losses.f32();
  const bool write_gradient = gradient_scale != 0.0f;
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    float* row = logit_rows + n * vocabulary;
    if (target[n] == kIgnoreIndex) {
      loss[n] = 0.0f;
      if (write_gradient) {
        for (std::int64_t j = 0; j < vocabulary; ++j) row[j] = 0.0f;
      }
      continue;
    }
    const float target_logit = row[target[n]];
    float max_logit = row[0];
    for (std::int64_t j = 1; j < vocabulary; ++j) max_logit = std::max(max_logit, row[j]);
    // softmax = exp(x - max) / sum: the exponentials are kept in the row when the gradient is wanted.
    double sum = 0.0;
    for (std::int64_t j = 0; j < vocabulary; ++j) {
      const float e = std::exp(row[j] - max_logit);
      if (write_gradient) row[j] = e;
      sum += static_cast<double>(e);
    }
    const double log_sum_exp = static_cast<double>(max_logit) + std::log(sum);
    loss[n] = static_cast<float>(log_sum_exp - static_cast<double>(target_logit));
    if (write_gradient) {
      const double inverse_sum = 1.0 / sum;
      for (std::int64_t j = 0; j < vocabulary; ++j) {
        const float probability = static_cast<float>(static_cast<double>(row[j]) * inverse_sum);
        row[j] = (j == target[n] ? probability - 1.0f : probability) * gradient_scale;
      }
    }
  }
}

}  // namespace fthost::backend::cpu
