#pragma once
// Loop shapes the CPU kernels share. Reductions here keep a fixed order: a fixed number of
// independent lanes (which the compiler vectorises without reassociating anything) combined by a
// fixed tree, and parallel loops that give each output element to exactly one thread. Results are
// therefore the same bits for any thread count and any vector width (the library is built with
// -ffp-contract=off, so no multiply-add is fused behind the code's back either).

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>

// Hot loops are compiled for AVX-512, AVX2 and the x86-64 baseline, chosen at load time by the
// dynamic linker (GCC/Clang target_clones), so a portable build still runs wide vectors. The
// clones compute the same bits: no FMA contraction, and only loops over independent elements
// (or over fixed lanes) are vectorised. -DFTHOST_CPU_NO_CLONES builds the baseline only.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(FTHOST_CPU_NO_CLONES)
#define FTHOST_CPU_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FTHOST_CPU_VECTOR_CLONES
#endif

namespace fthost::backend::cpu {

// e^x in f32 without a library call, so that loops of it vectorise: Cody-Waite range reduction
// x = n ln2 + r, Cephes' degree-6 polynomial for e^r, and 2^n built in the exponent bits. Within
// 1 ulp of the correctly rounded result for every f32 x in [-87.33, 88.72] (checked exhaustively;
// tests/backend/test_cpu_loops.cpp samples it); +0 below (no subnormals), +inf above, NaN stays NaN.
// glibc's expf is also within 1 ulp, and so is PyTorch's (SLEEF's u10).
inline float exp_f32(float x) {
  constexpr float kLowest = -87.33654f;  // e^x below this is subnormal
  constexpr float kHighest = 88.72283f;  // and above this overflows
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693359375f;  // ln 2 = kLn2High + kLn2Low, kLn2High exact in 9 bits
  constexpr float kLn2Low = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Clamped so that n fits the exponent; NaN compares false and becomes kLowest here.
  float clamped = x > kLowest ? x : kLowest;
  clamped = clamped < kHighest ? clamped : kHighest;
  const float n = (clamped * kLog2e + kRound) - kRound;  // in [-126, 128]
  const float r = (clamped - n * kLn2High) - n * kLn2Low;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = (p * r) * r + r + 1.0f;
  // 2^n as two factors, each a normal f32 even for n = 128 and n = -126; multiplying by them is exact.
  const auto exponent = static_cast<std::int32_t>(n);
  const std::int32_t half = exponent / 2;
  const float scale_a = std::bit_cast<float>((half + 127) << 23);
  const float scale_b = std::bit_cast<float>((exponent - half + 127) << 23);
  const float result = (e_r * scale_a) * scale_b;
  // Selects, not branches: loops calling this stay vectorisable.
  return x != x ? x : x < kLowest ? 0.0f : x > kHighest ? std::numeric_limits<float>::infinity() : result;
}

// max of x[0, n) (n >= 1), 16 lanes: the same value as a sequential max, without a dependency chain.
inline float max_f32(const float* x, std::int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = x[0];
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] = std::max(lanes[j], x[i + j]);
  }
  float result = x[0];
  for (; i < n; ++i) result = std::max(result, x[i]);
  for (int j = 0; j < kLanes; ++j) result = std::max(result, lanes[j]);
  return result;
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
