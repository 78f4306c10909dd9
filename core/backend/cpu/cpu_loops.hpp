#pragma once
// Loop shapes the CPU kernels share. Reductions here keep a fixed order: a fixed number of
// independent lanes (which the compiler vectorises without reassociating anything) combined by a
// fixed tree, and parallel loops that give each output element to exactly one thread. Results are
// therefore the same bits for any thread count and any vector width (the library is built with
// -ffp-contract=off, so no multiply-add is fused behind the code's back either).

#include <algorithm>
#include <cstdint>

namespace fthost::backend::cpu {

// sum_i x[i] * y[i] in f32, 16 lanes. For head-size dot products (D = 64..128): the error stays
// within a few ulps of the exact sum, and 16 lanes fill an AVX-512 register.
inline float dot_f32(const float* x, const float* y, std::int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] += x[i + j] * y[i + j];
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += x[i] * y[i];
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  }
  return lanes[0] + tail;
}

// sum_i x[i] * y[i] in f64 from f32 inputs, 8 lanes: row statistics of norms (C up to ~10^4).
inline double dot_f64(const float* x, const float* y, std::int64_t n) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(x[i + j]) * static_cast<double>(y[i + j]);
  }
  double tail = 0.0;
  for (; i < n; ++i) tail += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  }
  return lanes[0] + tail;
}

inline double sum_f64(const float* x, std::int64_t n) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(x[i + j]);
  }
  double tail = 0.0;
  for (; i < n; ++i) tail += static_cast<double>(x[i]);
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  }
  return lanes[0] + tail;
}

// destination[c] += sum over rows n (in order) of row_term(n, c), for c < columns: the reduction
// of a weight or bias gradient over the rows of a batch. Parallel over blocks of columns, so each
// sum is accumulated by one thread in row order, in f64, and added to destination once.
// row_term(n, first_column, width, sums) adds row n's terms for columns [first, first + width)
// into sums[0, width).
template <typename RowTerm>
void accumulate_column_sums(float* destination, std::int64_t rows, std::int64_t columns, RowTerm row_term) {
  constexpr std::int64_t kBlock = 32;
  const std::int64_t blocks = (columns + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t first = block * kBlock;
    const std::int64_t width = std::min(kBlock, columns - first);
    double sums[kBlock] = {};
    for (std::int64_t n = 0; n < rows; ++n) row_term(n, first, width, sums);
    for (std::int64_t j = 0; j < width; ++j) {
      destination[first + j] = static_cast<float>(static_cast<double>(destination[first + j]) + sums[j]);
    }
  }
}

}  // namespace fthost::backend::cpu
