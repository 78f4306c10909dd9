// Softmax cross-entropy over rows of logits on the CPU backend, with the gradient written over the
// logits (llm.c's fused classifier): the [N,V] probabilities are never a separate buffer.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

constexpr std::int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

// One row of logits [V] with its target: returns the loss; when gradient_scale != 0 the row is
// overwritten with (softmax - onehot) * gradient_scale. softmax = e^(x - max) / sum, the sum in
// f64; the exponentials are kept in the row between the two passes.
FTHOST_CPU_VECTOR_CLONES
float cross_entropy_row(float* row, std::int64_t vocabulary, std::int32_t target, float gradient_scale,
                        float* exponentials) {
  const float target_logit = row[target];
  const float max_logit = max_f32(row, vocabulary);
  float* e = gradient_scale != 0.0f ? row : exponentials;
#pragma omp simd
  for (std::int64_t j = 0; j < vocabulary; ++j) e[j] = exp_f32(row[j] - max_logit);
  const double sum = sum_f64(e, vocabulary);
  if (gradient_scale != 0.0f) {
    const double inverse_sum = 1.0 / sum;
    const auto target_probability = static_cast<float>(static_cast<double>(row[target]) * inverse_sum);
#pragma omp simd
    for (std::int64_t j = 0; j < vocabulary; ++j) {
      row[j] = static_cast<float>(static_cast<double>(row[j]) * inverse_sum) * gradient_scale;
    }
    row[target] = (target_probability - 1.0f) * gradient_scale;
  }
  return static_cast<float>(static_cast<double>(max_logit) + std::log(sum) - static_cast<double>(target_logit));
}

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
#pragma omp parallel
  {
    std::vector<float> exponentials(gradient_scale != 0.0f ? 0 : static_cast<std::size_t>(vocabulary));
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < dims.rows; ++n) {
      float* row = logit_rows + n * vocabulary;
      if (target[n] == kIgnoreIndex) {
        loss[n] = 0.0f;
        if (gradient_scale != 0.0f) std::fill(row, row + vocabulary, 0.0f);
        continue;
      }
      loss[n] = cross_entropy_row(row, vocabulary, target[n], gradient_scale, exponentials.data());
    }
  }
}

}  // namespace fthost::backend::cpu
