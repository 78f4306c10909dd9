// Memory and elementwise ops of the CUDA backend (cpu/cpu_elementwise.cpp is the reference).
//
// The CPU library is built with -ffp-contract=off, and nvcc would otherwise fuse a multiply and an
// add into one FMA: the _rn intrinsics below are never contracted, so every elementwise result is
// the CPU's to the bit. The reductions (sum_of_squares, column_sums_accumulate) add in f64 in a
// fixed order of their own, which can differ from the CPU's order only in f64 rounding.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backend/counter_random.hpp"
#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

__device__ inline i64 thread_index() { return static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline i64 grid_stride() { return static_cast<i64>(gridDim.x) * blockDim.x; }

// float16.hpp's conversions, NaN included: the conversion instructions return a canonical NaN,
// the CPU keeps a NaN's sign and its top payload bits (quieted), so NaN is handled here.
__device__ inline std::uint16_t bf16_bits(float value) {
  if (isnan(value)) return static_cast<std::uint16_t>((__float_as_uint(value) >> 16) | 0x40u);
  return __bfloat16_as_ushort(__float2bfloat16_rn(value));
}

__device__ inline float rounded_to_bf16(float value) {
  return __uint_as_float(static_cast<std::uint32_t>(bf16_bits(value)) << 16);
}

// cvt.rn.f16.f32 is IEEE: beyond 65504 (from the midpoint to the next binade up) +-inf, below
// 2^-14 the subnormals, ties to even, as float_to_f16_bits computes.
__device__ inline float rounded_to_f16(float value) {
  if (isnan(value)) return __uint_as_float((__float_as_uint(value) & 0x80000000u) | 0x7FC00000u);
  return __half2float(__float2half_rn(value));
}

__global__ void fill_kernel(float* __restrict__ x, i64 n, float value) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) x[i] = value;
}

// out may alias a or b: no __restrict__.
__global__ void add_kernel(float* out, const float* a, const float* b, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) out[i] = __fadd_rn(a[i], b[i]);
}

__global__ void scale_kernel(float* __restrict__ x, float factor, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) x[i] = __fmul_rn(x[i], factor);
}

// acc += factor * value, the product rounded before the sum as on the CPU
__global__ void add_scaled_kernel(float* accumulator, const float* value, float factor, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) {
    accumulator[i] = __fadd_rn(accumulator[i], __fmul_rn(factor, value[i]));
  }
}

// out [rows, cols] += bias [cols]
__global__ void add_bias_kernel(float* __restrict__ out, const float* __restrict__ bias, i64 rows, i64 cols) {
  const i64 n = rows * cols;
  for (i64 i = thread_index(); i < n; i += grid_stride()) out[i] = __fadd_rn(out[i], bias[i % cols]);
}

__global__ void round_to_bf16_kernel(float* __restrict__ x, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) x[i] = rounded_to_bf16(x[i]);
}

__global__ void round_to_f16_kernel(float* __restrict__ x, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) x[i] = rounded_to_f16(x[i]);
}

__global__ void to_bf16_kernel(std::uint16_t* __restrict__ out, const float* __restrict__ in, i64 n) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) out[i] = bf16_bits(in[i]);
}

// out may alias inp. keep_scale = 1 / (1 - probability), computed on the host as the CPU does.
__global__ void dropout_kernel(float* out, const float* inp, i64 n, float probability, float keep_scale,
                               std::uint64_t seed) {
  for (i64 i = thread_index(); i < n; i += grid_stride()) {
    const bool keep = counter_uniform(seed, static_cast<std::uint64_t>(i)) >= probability;
    out[i] = keep ? __fmul_rn(inp[i], keep_scale) : 0.0f;
  }
}

// partials[block] = sum of x[i]^2 over the block's grid-stride elements. A product of two f32 is
// exact in f64, so whether it is fused into the addition does not change any bit.
__global__ void sum_of_squares_partials_kernel(double* __restrict__ partials, const float* __restrict__ x, i64 n) {
  __shared__ double shared[32];
  double sum = 0.0;
  for (i64 i = thread_index(); i < n; i += grid_stride()) {
    const double value = static_cast<double>(x[i]);
    sum += value * value;
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// One block: *result = sum of partials[count], in an order that depends only on count.
__global__ void sum_partials_kernel(double* __restrict__ result, const double* __restrict__ partials, i64 count) {
  __shared__ double shared[32];
  double sum = 0.0;
  for (i64 i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) *result = sum;
}

// destination [rows, width] = source [rows, wide][:, first : first + width]
__global__ void copy_columns_kernel(float* __restrict__ destination, const float* __restrict__ source, i64 rows,
                                    i64 width, i64 wide, i64 first) {
  const i64 n = rows * width;
  for (i64 i = thread_index(); i < n; i += grid_stride()) {
    const i64 row = i / width;
    destination[i] = source[row * wide + first + (i - row * width)];
  }
}

// destination [rows, wide][:, first : first + width] += source [rows, width]
__global__ void accumulate_columns_kernel(float* __restrict__ destination, const float* __restrict__ source, i64 rows,
                                          i64 width, i64 wide, i64 first) {
  const i64 n = rows * width;
  for (i64 i = thread_index(); i < n; i += grid_stride()) {
    const i64 row = i / width;
    float* element = destination + row * wide + first + (i - row * width);
    *element = __fadd_rn(*element, source[i]);
  }
}

// Column sums in two passes. Pass one: block (column tile, row chunk) of kColumnTile x
// kRowGroups threads; a warp reads kColumnTile consecutive columns of one row (coalesced), each
// thread sums every kRowGroups-th row of the chunk in f64, and the row groups are added in order:
// partials [row_chunks, cols]. Pass two adds each column's partials in chunk order.
constexpr int kColumnTile = 32;
constexpr int kRowGroups = 8;

__global__ void column_sums_partials_kernel(double* __restrict__ partials, const float* __restrict__ x, i64 rows,
                                            i64 cols, i64 chunk_rows) {
  __shared__ double shared[kRowGroups][kColumnTile];
  const i64 column = static_cast<i64>(blockIdx.x) * kColumnTile + threadIdx.x;
  const i64 row_begin = static_cast<i64>(blockIdx.y) * chunk_rows;
  const i64 row_end = min(rows, row_begin + chunk_rows);
  double sum = 0.0;
  if (column < cols) {
    for (i64 row = row_begin + threadIdx.y; row < row_end; row += kRowGroups) {
      sum += static_cast<double>(x[row * cols + column]);
    }
  }
  shared[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && column < cols) {
    double total = shared[0][threadIdx.x];
    for (int group = 1; group < kRowGroups; ++group) total += shared[group][threadIdx.x];
    partials[static_cast<i64>(blockIdx.y) * cols + column] = total;
  }
}

// sums[c] = f32(sums[c] + total) in f64, as cpu_loops.hpp's accumulate_column_sums rounds once.
__global__ void column_sums_finish_kernel(float* __restrict__ sums, const double* __restrict__ partials,
                                          i64 row_chunks, i64 cols) {
  for (i64 column = thread_index(); column < cols; column += grid_stride()) {
    double total = 0.0;
    for (i64 chunk = 0; chunk < row_chunks; ++chunk) total += partials[chunk * cols + column];
    sums[column] = static_cast<float>(static_cast<double>(sums[column]) + total);
  }
}

}  // namespace

void fill(float* x, i64 n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, fill_kernel)(x, n, value);
  check_launch("fill");
}

void add(float* out, const float* a, const float* b, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, add_kernel)(out, a, b, n);
  check_launch("add");
}

void scale(float* x, float factor, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, scale_kernel)(x, factor, n);
  check_launch("scale");
}

void add_scaled(float* accumulator, const float* value, float factor, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, add_scaled_kernel)(accumulator, value, factor, n);
  check_launch("add_scaled");
}

void add_bias(float* out, const float* bias, i64 rows, i64 cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  FTHOST_LAUNCH(grid_for(rows * cols), kThreads, 0, stream, add_bias_kernel)(out, bias, rows, cols);
  check_launch("add_bias");
}

void round_to_bf16(float* x, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, round_to_bf16_kernel)(x, n);
  check_launch("round_to_bf16");
}

void round_to_f16(float* x, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, round_to_f16_kernel)(x, n);
  check_launch("round_to_f16");
}

void dropout(float* out, const float* inp, i64 n, float probability, std::uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return;
  // torch scales kept elements by 1 / (1 - p) in the input's dtype; the same f32 division as the CPU's
  const float keep_scale = 1.0f / (1.0f - probability);
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, dropout_kernel)(out, inp, n, probability, keep_scale, seed);
  check_launch("dropout");
}

void sum_of_squares(double* result, const float* x, i64 n, Scratch& scratch, cudaStream_t stream) {
  if (n <= 0) {
    // The sum over no elements is 0, and the caller reads it from *result.
    FTHOST_LAUNCH(1, kThreads, 0, stream, sum_partials_kernel)(result, nullptr, 0);
    check_launch("sum_of_squares");
    return;
  }
  const unsigned blocks = grid_for(n);  // a function of n only, so the partials' order repeats
  auto* partials = static_cast<double*>(scratch.get(sizeof(double) * blocks));
  FTHOST_LAUNCH(blocks, kThreads, 0, stream, sum_of_squares_partials_kernel)(partials, x, n);
  check_launch("sum_of_squares");
  FTHOST_LAUNCH(1, kThreads, 0, stream, sum_partials_kernel)(result, partials, blocks);
  check_launch("sum_of_squares");
}

void copy_columns(float* destination, const float* source, i64 rows, i64 width, i64 wide, i64 first,
                  cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return;
  FTHOST_LAUNCH(grid_for(rows * width), kThreads, 0, stream, copy_columns_kernel)(
      destination, source, rows, width, wide, first);
  check_launch("copy_columns");
}

void accumulate_columns(float* destination, const float* source, i64 rows, i64 width, i64 wide, i64 first,
                        cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return;
  FTHOST_LAUNCH(grid_for(rows * width), kThreads, 0, stream, accumulate_columns_kernel)(
      destination, source, rows, width, wide, first);
  check_launch("accumulate_columns");
}

void column_sums_accumulate(float* sums, const float* x, i64 rows, i64 cols, Scratch& scratch, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  // About 2048 blocks in all where the rows allow it, each chunk at least 64 rows; the split
  // depends only on (rows, cols), so the summation order repeats.
  const i64 column_tiles = (cols + kColumnTile - 1) / kColumnTile;
  const i64 target_chunks = std::max<i64>(1, 2048 / column_tiles);
  const i64 chunk_rows = std::max<i64>(64, (rows + target_chunks - 1) / target_chunks);
  const i64 row_chunks = (rows + chunk_rows - 1) / chunk_rows;  // at most 2048: fits grid.y
  auto* partials = static_cast<double*>(scratch.get(sizeof(double) * static_cast<std::size_t>(row_chunks * cols)));
  const dim3 grid(static_cast<unsigned>(column_tiles), static_cast<unsigned>(row_chunks));
  FTHOST_LAUNCH(grid, dim3(kColumnTile, kRowGroups), 0, stream, column_sums_partials_kernel)(
      partials, x, rows, cols, chunk_rows);
  check_launch("column_sums_accumulate");
  FTHOST_LAUNCH(grid_for(cols), kThreads, 0, stream, column_sums_finish_kernel)(sums, partials, row_chunks, cols);
  check_launch("column_sums_accumulate");
}

void to_bf16(std::uint16_t* out, const float* in, i64 n, cudaStream_t stream) {
  if (n <= 0) return;
  FTHOST_LAUNCH(grid_for(n), kThreads, 0, stream, to_bf16_kernel)(out, in, n);
  check_launch("to_bf16");
}

}  // namespace fthost::backend::cuda::kernels
