// The CUDA backend's int8 GEMM: c[m,n] (i32) = a[m,k] (i8) @ b[n,k]^T (i8), exact. Integer sums
// have no rounding, so any order gives the CPU's (cpu/cpu_gemm_s8.cpp) values; k <= 131071 keeps
// every sum of products (each at most 128 * 128 in magnitude) inside int32.
//
// A 64 x 64 tile of c per block of 256 threads, each thread 4 x 4 outputs. a and b both run along
// k in memory, so the block stages 64 rows of each, 64 bytes of k at a time, in shared memory as
// 32-bit words of 4 int8, and multiplies words with __dp4a (four int8 products summed into int32).
// Bytes past k (and rows past m or n) are staged as zero, which adds nothing.

#include <cstdint>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

constexpr int kTile = 64;           // rows of a (and of b) per block
constexpr int kStageWords = 16;     // k per stage: 16 words of 4 bytes
constexpr int kThreadsPerSide = 16;  // 16 x 16 threads
constexpr int kPerThread = kTile / kThreadsPerSide;  // 4 x 4 outputs per thread
constexpr int kGemmThreads = kThreadsPerSide * kThreadsPerSide;
static_assert(kTile * kStageWords % kGemmThreads == 0, "each thread stages the same number of words");

// Word `word` (4 bytes of k from byte 4 * word) of row `row` of x [rows, k], zero where outside.
// kWordAligned: k is a multiple of 4 and x is 4-byte aligned, so a word is one aligned load.
template <bool kWordAligned>
__device__ inline int load_word(const std::int8_t* __restrict__ x, i64 rows, i64 k, i64 row, i64 word) {
  if (row >= rows) return 0;
  const std::int8_t* row_bytes = x + row * k;
  if constexpr (kWordAligned) {
    return word < k / 4 ? reinterpret_cast<const int*>(row_bytes)[word] : 0;
  } else {
    unsigned packed = 0;
    for (int byte = 0; byte < 4; ++byte) {
      const i64 index = word * 4 + byte;
      const unsigned value = index < k ? static_cast<unsigned>(static_cast<std::uint8_t>(row_bytes[index])) : 0u;
      packed |= value << (8 * byte);  // little-endian, as __dp4a reads its bytes
    }
    return static_cast<int>(packed);
  }
}

template <bool kWordAligned>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_s8_kernel(std::int32_t* __restrict__ c, const std::int8_t* __restrict__ a, const std::int8_t* __restrict__ b,
                   i64 m, i64 n, i64 k) {
  // [row][word]; the padding word makes the reads of 16 consecutive rows hit 16 different banks.
  __shared__ int a_stage[kTile][kStageWords + 1];
  __shared__ int b_stage[kTile][kStageWords + 1];
  const int tx = static_cast<int>(threadIdx.x) % kThreadsPerSide;  // columns tx + 16 j of the tile
  const int ty = static_cast<int>(threadIdx.x) / kThreadsPerSide;  // rows ty + 16 i of the tile
  const i64 words = (k + 3) / 4;
  const i64 column_tiles = (n + kTile - 1) / kTile;
  const i64 first_row = static_cast<i64>(blockIdx.x) * kTile;

  for (i64 column_tile = blockIdx.y; column_tile < column_tiles; column_tile += gridDim.y) {
    const i64 first_column = column_tile * kTile;
    int sums[kPerThread][kPerThread] = {};
    for (i64 first_word = 0; first_word < words; first_word += kStageWords) {
      // 16 consecutive threads read 64 consecutive bytes of one row.
      for (int w = static_cast<int>(threadIdx.x); w < kTile * kStageWords; w += kGemmThreads) {
        const int row = w / kStageWords;
        const int word = w % kStageWords;
        a_stage[row][word] = load_word<kWordAligned>(a, m, k, first_row + row, first_word + word);
        b_stage[row][word] = load_word<kWordAligned>(b, n, k, first_column + row, first_word + word);
      }
      __syncthreads();
#pragma unroll
      for (int word = 0; word < kStageWords; ++word) {
        int a_words[kPerThread], b_words[kPerThread];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) a_words[i] = a_stage[ty + kThreadsPerSide * i][word];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) b_words[j] = b_stage[tx + kThreadsPerSide * j][word];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
          for (int j = 0; j < kPerThread; ++j) sums[i][j] = __dp4a(a_words[i], b_words[j], sums[i][j]);
        }
      }
      __syncthreads();  // the next stage overwrites what this one read
    }
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const i64 row = first_row + ty + kThreadsPerSide * i;
      if (row >= m) continue;
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) {
        const i64 column = first_column + tx + kThreadsPerSide * j;
        if (column < n) c[row * n + column] = sums[i][j];
      }
    }
  }
}

}  // namespace

void gemm_s8(std::int32_t* c, const std::int8_t* a, const std::int8_t* b, i64 m, i64 n, i64 k, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;  // k == 0 still runs: c is then all zeros, as the CPU's empty sums
  const i64 row_tiles = (m + kTile - 1) / kTile;
  const i64 column_tiles = (n + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(column_tiles < 65535 ? column_tiles : 65535));
  const bool word_aligned = k % 4 == 0 && reinterpret_cast<std::uintptr_t>(a) % 4 == 0 &&
                            reinterpret_cast<std::uintptr_t>(b) % 4 == 0;
  if (word_aligned) {
    FTHOST_LAUNCH(grid, kGemmThreads, 0, stream, gemm_s8_kernel<true>)(c, a, b, m, n, k);
  } else {
    FTHOST_LAUNCH(grid, kGemmThreads, 0, stream, gemm_s8_kernel<false>)(c, a, b, m, n, k);
  }
  check_launch("gemm_s8");
}

}  // namespace fthost::backend::cuda::kernels
