// Softmax cross-entropy over rows of logits on the CUDA backend, with the gradient written over the
// logits (llm.c's fused classifier), as cpu_loss.cpp computes it: softmax = e^(x - max) / sum with
// the sum in f64, loss = max + log(sum) - x[target] in f64, gradient (softmax - onehot) * scale.
// A target outside [0, V) that is not -100 is recorded in `error` and its row left untouched (the
// CPU throws before computing anything; the backend raises at its next synchronisation).

#include <cmath>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

constexpr std::int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

// V reaches 128k and more: a wide block strides over the row, so each thread keeps only scalars.
constexpr int kRowThreads = 512;

// logits [N,V] (overwritten with the gradient when gradient_scale != 0), targets [N] -> losses [N];
// block n = row n. Three passes over the row (max, sum, gradient): e^(x - max) is evaluated again
// in the last pass rather than stored, the same f32 value at less memory traffic.
__global__ void cross_entropy_kernel(float* __restrict__ losses, float* __restrict__ logits,
                                     const std::int32_t* __restrict__ targets, i64 vocabulary, float gradient_scale,
                                     int* error) {
  __shared__ float shared_max[32];
  __shared__ double shared_sum[32];
  const i64 row = blockIdx.x;
  float* x = logits + row * vocabulary;
  const std::int32_t target = targets[row];
  if (target == kIgnoreIndex) {
    if (threadIdx.x == 0) losses[row] = 0.0f;
    if (gradient_scale != 0.0f) {
      for (i64 j = threadIdx.x; j < vocabulary; j += blockDim.x) x[j] = 0.0f;
    }
    return;
  }
  if (target < 0 || target >= vocabulary) {
    if (threadIdx.x == 0) record_error(error, kErrorTarget);
    return;
  }
  // Read before the gradient pass overwrites the row; block_max below orders it before any write.
  const float target_logit = x[target];

  float max_logit = -INFINITY;
  for (i64 j = threadIdx.x; j < vocabulary; j += blockDim.x) max_logit = fmaxf(max_logit, x[j]);
  max_logit = block_max(max_logit, shared_max, -INFINITY);

  double sum = 0.0;
  for (i64 j = threadIdx.x; j < vocabulary; j += blockDim.x) sum += static_cast<double>(expf(x[j] - max_logit));
  sum = block_sum(sum, shared_sum);

  if (gradient_scale != 0.0f) {
    const double inverse_sum = 1.0 / sum;
    for (i64 j = threadIdx.x; j < vocabulary; j += blockDim.x) {
      const auto probability = static_cast<float>(static_cast<double>(expf(x[j] - max_logit)) * inverse_sum);
      x[j] = (j == target ? probability - 1.0f : probability) * gradient_scale;
    }
  }
  if (threadIdx.x == 0) {
    losses[row] = static_cast<float>(static_cast<double>(max_logit) + log(sum) - static_cast<double>(target_logit));
  }
}

}  // namespace

void cross_entropy_rows(float* losses, float* logits, const std::int32_t* targets, i64 rows, i64 vocabulary,
                        float gradient_scale, int* error, cudaStream_t stream) {
  if (rows == 0) return;
  FTHOST_LAUNCH(static_cast<unsigned>(rows), kRowThreads, 0, stream, cross_entropy_kernel)(
      losses, logits, targets, vocabulary, gradient_scale, error);
  check_launch("cross_entropy_rows");
}

}  // namespace fthost::backend::cuda::kernels
