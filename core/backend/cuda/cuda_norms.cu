// RMSNorm (Llama) and LayerNorm (GPT-2) on the CUDA backend, with cpu_norms.cpp's arithmetic: row
// statistics and the input gradient in f64, so each result is the f32 rounding of a nearly exact
// value and agrees with the CPU's whatever the summation order.
//
// Row math runs one block per row. The weight and bias gradients are sums over rows; they are
// formed without atomics in two passes: each block of a column tile sums a fixed chunk of rows
// into an f64 partial (in Scratch), then one pass adds the partials of each column in chunk order.

#include <cmath>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

// Rows per chunk of the column-sum pass: at least 32, and at most kMaxChunks chunks, which bounds
// the partials at kMaxChunks * C doubles while leaving thousands of blocks for large batches.
constexpr i64 kMinChunkRows = 32;
constexpr i64 kMaxChunks = 256;

struct RowChunks {
  i64 rows_per_chunk;
  i64 count;
};

RowChunks row_chunks(i64 rows) {
  i64 per_chunk = (rows + kMaxChunks - 1) / kMaxChunks;
  if (per_chunk < kMinChunkRows) per_chunk = kMinChunkRows;
  return {per_chunk, (rows + per_chunk - 1) / per_chunk};
}

// destination[c] = f32(destination[c] + sum over chunks k, in order, of partials[k, c]).
__global__ void add_column_partials_kernel(float* __restrict__ destination, const double* __restrict__ partials,
                                           i64 chunks, i64 columns) {
  for (i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; c < columns;
       c += static_cast<i64>(gridDim.x) * blockDim.x) {
    double total = 0.0;
    for (i64 k = 0; k < chunks; ++k) total += partials[k * columns + c];
    destination[c] = static_cast<float>(static_cast<double>(destination[c]) + total);
  }
}

void add_column_partials(float* destination, const double* partials, i64 chunks, i64 columns,
                         cudaStream_t stream) {
  FTHOST_LAUNCH(grid_for(columns), kThreads, 0, stream, add_column_partials_kernel)(
      destination, partials, chunks, columns);
  check_launch("add_column_partials");
}

// Grid for the partial pass: x = column tiles of kThreads, y = row chunks (at most kMaxChunks).
dim3 partials_grid(i64 columns, const RowChunks& chunks) {
  return dim3(static_cast<unsigned>((columns + kThreads - 1) / kThreads), static_cast<unsigned>(chunks.count));
}

// ---- RMSNorm ----

// inp [N,C], weight [C] -> out [N,C], rstd [N]; block n = row n.
__global__ void rmsnorm_forward_kernel(float* __restrict__ out, float* __restrict__ rstd, const float* __restrict__ inp,
                                       const float* __restrict__ weight, i64 channels, float eps) {
  __shared__ double shared[32];
  const i64 row = blockIdx.x;
  const float* x = inp + row * channels;
  float* o = out + row * channels;
  double square_sum = 0.0;
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double value = static_cast<double>(x[c]);
    square_sum += value * value;
  }
  square_sum = block_sum(square_sum, shared);
  const double mean_square = square_sum / static_cast<double>(channels);
  const auto r = static_cast<float>(1.0 / sqrt(mean_square + static_cast<double>(eps)));
  if (threadIdx.x == 0) rstd[row] = r;
  // Hugging Face's order: weight * (x * rstd), each product rounded to f32.
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) o[c] = weight[c] * (x[c] * r);
}

// dinp += r w dy - x r^3 / C * sum_j dy_j w_j x_j, in f64; block n = row n.
__global__ void rmsnorm_backward_input_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                                              const float* __restrict__ inp, const float* __restrict__ weight,
                                              const float* __restrict__ rstd, i64 channels) {
  __shared__ double shared[32];
  const i64 row = blockIdx.x;
  const float* x = inp + row * channels;
  const float* dy = dout + row * channels;
  float* dx = dinp + row * channels;
  double weighted = 0.0;
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    weighted += static_cast<double>(dy[c]) * static_cast<double>(weight[c]) * static_cast<double>(x[c]);
  }
  weighted = block_sum(weighted, shared);
  const double r = static_cast<double>(rstd[row]);
  const double coefficient = r * r * r * weighted / static_cast<double>(channels);
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double term =
        r * static_cast<double>(weight[c]) * static_cast<double>(dy[c]) - static_cast<double>(x[c]) * coefficient;
    dx[c] = static_cast<float>(static_cast<double>(dx[c]) + term);
  }
}

// partials[k, c] = sum over the rows n of chunk k of dy[n,c] x[n,c] rstd[n] (the dweight terms).
__global__ void rmsnorm_weight_partials_kernel(double* __restrict__ partials, const float* __restrict__ dout,
                                               const float* __restrict__ inp, const float* __restrict__ rstd,
                                               i64 rows, i64 channels, i64 rows_per_chunk) {
  const i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const i64 first = static_cast<i64>(blockIdx.y) * rows_per_chunk;
  const i64 last = first + rows_per_chunk < rows ? first + rows_per_chunk : rows;
  double sum = 0.0;
  for (i64 n = first; n < last; ++n) {
    const i64 at = n * channels + c;
    sum += static_cast<double>(dout[at]) * static_cast<double>(inp[at]) * static_cast<double>(rstd[n]);
  }
  partials[static_cast<i64>(blockIdx.y) * channels + c] = sum;
}

// ---- LayerNorm ----

// inp [N,C] -> out [N,C] = (inp - mean) * rstd * weight + bias (bias may be null); mean [N],
// rstd [N] from the biased variance, two passes in f64; block n = row n.
__global__ void layernorm_forward_kernel(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                                         const float* __restrict__ inp, const float* __restrict__ weight,
                                         const float* __restrict__ bias, i64 channels, float eps) {
  __shared__ double shared[32];
  const i64 row = blockIdx.x;
  const float* x = inp + row * channels;
  float* o = out + row * channels;
  double sum = 0.0;
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) sum += static_cast<double>(x[c]);
  const double m = block_sum(sum, shared) / static_cast<double>(channels);
  double variance = 0.0;  // about the mean, not E[x^2] - m^2: no cancellation when |mean| >> spread
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double centred = static_cast<double>(x[c]) - m;
    variance += centred * centred;
  }
  variance = block_sum(variance, shared) / static_cast<double>(channels);
  const double r = 1.0 / sqrt(variance + static_cast<double>(eps));
  if (threadIdx.x == 0) {
    mean[row] = static_cast<float>(m);
    rstd[row] = static_cast<float>(r);
  }
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double normed = (static_cast<double>(x[c]) - m) * r * static_cast<double>(weight[c]);
    o[c] = static_cast<float>(bias != nullptr ? normed + static_cast<double>(bias[c]) : normed);
  }
}

// With norm = (x - mean) * rstd and dnorm = w * dy:
//   dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), in f64; block n = row n.
__global__ void layernorm_backward_input_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                                                const float* __restrict__ inp, const float* __restrict__ weight,
                                                const float* __restrict__ mean, const float* __restrict__ rstd,
                                                i64 channels) {
  __shared__ double shared[32];
  const i64 row = blockIdx.x;
  const float* x = inp + row * channels;
  const float* dy = dout + row * channels;
  float* dx = dinp + row * channels;
  const double m = static_cast<double>(mean[row]);
  const double r = static_cast<double>(rstd[row]);
  double dnorm_sum = 0.0, dnorm_norm_sum = 0.0;
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double norm = (static_cast<double>(x[c]) - m) * r;
    const double dnorm = static_cast<double>(weight[c]) * static_cast<double>(dy[c]);
    dnorm_sum += dnorm;
    dnorm_norm_sum += dnorm * norm;
  }
  const double dnorm_mean = block_sum(dnorm_sum, shared) / static_cast<double>(channels);
  const double dnorm_norm_mean = block_sum(dnorm_norm_sum, shared) / static_cast<double>(channels);
  for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
    const double norm = (static_cast<double>(x[c]) - m) * r;
    const double dnorm = static_cast<double>(weight[c]) * static_cast<double>(dy[c]);
    dx[c] = static_cast<float>(static_cast<double>(dx[c]) + r * (dnorm - dnorm_mean - norm * dnorm_norm_mean));
  }
}

// Per chunk k of rows: weight_partials[k, c] = sum dy * (x - mean) * rstd, bias_partials[k, c] =
// sum dy; either output may be null (not wanted).
__global__ void layernorm_parameter_partials_kernel(double* __restrict__ weight_partials,
                                                    double* __restrict__ bias_partials,
                                                    const float* __restrict__ dout, const float* __restrict__ inp,
                                                    const float* __restrict__ mean, const float* __restrict__ rstd,
                                                    i64 rows, i64 channels, i64 rows_per_chunk) {
  const i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const i64 first = static_cast<i64>(blockIdx.y) * rows_per_chunk;
  const i64 last = first + rows_per_chunk < rows ? first + rows_per_chunk : rows;
  double weight_sum = 0.0, bias_sum = 0.0;
  for (i64 n = first; n < last; ++n) {
    const i64 at = n * channels + c;
    const double dy = static_cast<double>(dout[at]);
    if (weight_partials != nullptr) {
      const double m = static_cast<double>(mean[n]);
      const double r = static_cast<double>(rstd[n]);
      weight_sum += dy * ((static_cast<double>(inp[at]) - m) * r);
    }
    bias_sum += dy;
  }
  const i64 slot = static_cast<i64>(blockIdx.y) * channels + c;
  if (weight_partials != nullptr) weight_partials[slot] = weight_sum;
  if (bias_partials != nullptr) bias_partials[slot] = bias_sum;
}

}  // namespace

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, i64 rows, i64 channels,
                     float eps, cudaStream_t stream) {
  if (rows == 0 || channels == 0) return;
  FTHOST_LAUNCH(static_cast<unsigned>(rows), kThreads, 0, stream, rmsnorm_forward_kernel)(
      out, rstd, inp, weight, channels, eps);
  check_launch("rmsnorm_forward");
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, i64 rows, i64 channels, Scratch& scratch, cudaStream_t stream) {
  if (rows == 0 || channels == 0) return;
  if (dinp != nullptr) {
    FTHOST_LAUNCH(static_cast<unsigned>(rows), kThreads, 0, stream, rmsnorm_backward_input_kernel)(
        dinp, dout, inp, weight, rstd, channels);
    check_launch("rmsnorm_backward_input");
  }
  if (dweight != nullptr) {
    const RowChunks chunks = row_chunks(rows);
    auto* partials = static_cast<double*>(scratch.get(static_cast<std::size_t>(chunks.count * channels) * sizeof(double)));
    FTHOST_LAUNCH(partials_grid(channels, chunks), kThreads, 0, stream, rmsnorm_weight_partials_kernel)(
        partials, dout, inp, rstd, rows, channels, chunks.rows_per_chunk);
    check_launch("rmsnorm_weight_partials");
    add_column_partials(dweight, partials, chunks.count, channels, stream);
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       i64 rows, i64 channels, float eps, cudaStream_t stream) {
  if (rows == 0 || channels == 0) return;
  FTHOST_LAUNCH(static_cast<unsigned>(rows), kThreads, 0, stream, layernorm_forward_kernel)(
      out, mean, rstd, inp, weight, bias, channels, eps);
  check_launch("layernorm_forward");
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, i64 rows, i64 channels,
                        Scratch& scratch, cudaStream_t stream) {
  if (rows == 0 || channels == 0) return;
  if (dinp != nullptr) {
    FTHOST_LAUNCH(static_cast<unsigned>(rows), kThreads, 0, stream, layernorm_backward_input_kernel)(
        dinp, dout, inp, weight, mean, rstd, channels);
    check_launch("layernorm_backward_input");
  }
  if (dweight == nullptr && dbias == nullptr) return;
  const RowChunks chunks = row_chunks(rows);
  // One allocation holds both partial arrays, [chunks, C] doubles each.
  const i64 partial_count = chunks.count * channels;
  const int arrays = (dweight != nullptr ? 1 : 0) + (dbias != nullptr ? 1 : 0);
  auto* partials = static_cast<double*>(scratch.get(static_cast<std::size_t>(arrays * partial_count) * sizeof(double)));
  double* weight_partials = dweight != nullptr ? partials : nullptr;
  double* bias_partials = dbias != nullptr ? partials + (arrays - 1) * partial_count : nullptr;
  FTHOST_LAUNCH(partials_grid(channels, chunks), kThreads, 0, stream, layernorm_parameter_partials_kernel)(
      weight_partials, bias_partials, dout, inp, mean, rstd, rows, channels, chunks.rows_per_chunk);
  check_launch("layernorm_parameter_partials");
  if (dweight != nullptr) add_column_partials(dweight, weight_partials, chunks.count, channels, stream);
  if (dbias != nullptr) add_column_partials(dbias, bias_partials, chunks.count, channels, stream);
}

}  // namespace fthost::backend::cuda::kernels
