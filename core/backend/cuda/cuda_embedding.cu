// Token embedding lookup and its gradient on the CUDA backend (cpu/cpu_embedding.cpp is the
// reference). An id outside [0, vocabulary) is recorded as kErrorTokenId and its row is skipped.
//
// The gradient is deterministic without float atomics: the (id, n) pairs are sorted by id with a
// stable radix sort, so each id's rows stay in order of n, and one thread per (run of equal ids,
// column) adds them into dtable in that order: dtable[id, c] = ((dtable[id, c] + dout[n0, c]) +
// dout[n1, c]) + ..., exactly the CPU's sequence of additions, hence the CPU's bits.

#include <cub/cub.cuh>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "backend/cuda/cuda_common.cuh"

namespace fthost::backend::cuda::kernels {
namespace {

// out [rows, channels] = table [vocabulary, channels] [ids[rows], :]; a block per row at a time.
__global__ void embedding_forward_kernel(float* __restrict__ out, const std::int32_t* __restrict__ ids,
                                         const float* __restrict__ table, i64 rows, i64 vocabulary, i64 channels,
                                         int* error) {
  for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int32_t id = ids[row];
    if (id < 0 || id >= vocabulary) {
      if (threadIdx.x == 0) record_error(error, kErrorTokenId);
      continue;
    }
    const float* source = table + static_cast<i64>(id) * channels;
    float* destination = out + row * channels;
    for (i64 c = threadIdx.x; c < channels; c += blockDim.x) destination[c] = source[c];
  }
}

// keys[n] = ids[n], or `invalid_key` (larger than every valid id, so sorted last) for an id out
// of range, which is recorded; rows[n] = n.
__global__ void embedding_keys_kernel(std::uint32_t* __restrict__ keys, std::int32_t* __restrict__ row_indices,
                                      const std::int32_t* __restrict__ ids, i64 rows, i64 vocabulary,
                                      std::uint32_t invalid_key, int* error) {
  for (i64 n = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; n < rows;
       n += static_cast<i64>(gridDim.x) * blockDim.x) {
    const std::int32_t id = ids[n];
    const bool valid = id >= 0 && id < vocabulary;
    if (!valid) record_error(error, kErrorTokenId);
    if (keys != nullptr) {
      keys[n] = valid ? static_cast<std::uint32_t>(id) : invalid_key;
      row_indices[n] = static_cast<std::int32_t>(n);
    }
  }
}

// Sorted keys [rows] and their rows of dout. Grid x runs over sorted positions, y over column
// blocks of blockDim.x; the block at the first position of a run of equal keys adds the run's
// dout rows, in sorted (= n) order, into dtable's row for its columns. Other blocks exit at once.
__global__ void embedding_backward_runs_kernel(float* __restrict__ dtable, const std::uint32_t* __restrict__ keys,
                                               const std::int32_t* __restrict__ row_indices,
                                               const float* __restrict__ dout, i64 rows, i64 channels,
                                               std::uint32_t invalid_key) {
  const i64 column = static_cast<i64>(blockIdx.y) * blockDim.x + threadIdx.x;
  for (i64 start = blockIdx.x; start < rows; start += gridDim.x) {
    const std::uint32_t key = keys[start];
    if (key == invalid_key || (start > 0 && keys[start - 1] == key)) continue;
    if (column >= channels) continue;
    float* destination = dtable + static_cast<i64>(key) * channels + column;
    float sum = *destination;
    // The loads of a few rows are issued before their additions, which stay in order.
    constexpr int kUnroll = 4;
    i64 position = start;
    for (;;) {
      float values[kUnroll];
      int count = 0;
      for (; count < kUnroll && position + count < rows && keys[position + count] == key; ++count) {
        values[count] = dout[static_cast<i64>(row_indices[position + count]) * channels + column];
      }
      for (int j = 0; j < count; ++j) sum = __fadd_rn(sum, values[j]);
      position += count;
      if (count < kUnroll) break;
    }
    *destination = sum;
  }
}

void check_cub(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("embedding_backward: ") + what + " failed: " + cudaGetErrorName(status) +
                             ": " + cudaGetErrorString(status));
  }
}

std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

void embedding_forward(float* out, const std::int32_t* ids, const float* table, i64 rows, i64 vocabulary,
                       i64 channels, int* error, cudaStream_t stream) {
  if (rows <= 0) return;
  // Blocks also run when channels is 0: the ids are still checked, as on the CPU.
  const unsigned blocks = static_cast<unsigned>(rows < 65536 ? rows : 65536);
  FTHOST_LAUNCH(blocks, kThreads, 0, stream, embedding_forward_kernel)(
      out, ids, table, rows, vocabulary, channels, error);
  check_launch("embedding_forward");
}

void embedding_backward(float* dtable, const std::int32_t* ids, const float* dout, i64 rows, i64 vocabulary,
                        i64 channels, Scratch& scratch, int* error, cudaStream_t stream) {
  if (rows <= 0 || dtable == nullptr) return;
  if (rows > 0x7FFFFFFF) {  // the sort carries row numbers as int32
    throw std::length_error("embedding_backward: " + std::to_string(rows) + " rows exceed 2^31 - 1");
  }
  // Valid ids are below vocabulary (and non-negative int32, so below 2^31): a key one past them
  // sorts every bad id last; sorting only the bits that keys use saves radix passes.
  const std::uint32_t invalid_key =
      vocabulary > 0x7FFFFFFF ? 0xFFFFFFFFu : static_cast<std::uint32_t>(vocabulary);
  if (channels <= 0) {
    // Nothing to add, but the ids are still checked, as on the CPU.
    FTHOST_LAUNCH(grid_for(rows), kThreads, 0, stream, embedding_keys_kernel)(
        nullptr, nullptr, ids, rows, vocabulary, invalid_key, error);
    check_launch("embedding_backward");
    return;
  }
  int end_bit = 1;
  while (end_bit < 32 && (invalid_key >> end_bit) != 0) ++end_bit;

  const auto count = static_cast<std::size_t>(rows);
  std::size_t sort_bytes = 0;
  check_cub(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const std::uint32_t*>(nullptr),
                                            static_cast<std::uint32_t*>(nullptr),
                                            static_cast<const std::int32_t*>(nullptr),
                                            static_cast<std::int32_t*>(nullptr), rows, 0, end_bit, stream),
            "cub::DeviceRadixSort::SortPairs (size query)");
  // One allocation carved into the sort's inputs, outputs and temporary storage.
  const std::size_t keys_bytes = aligned(count * sizeof(std::uint32_t));
  const std::size_t rows_bytes = aligned(count * sizeof(std::int32_t));
  auto* base = static_cast<unsigned char*>(scratch.get(2 * keys_bytes + 2 * rows_bytes + sort_bytes));
  auto* keys = reinterpret_cast<std::uint32_t*>(base);
  auto* sorted_keys = reinterpret_cast<std::uint32_t*>(base + keys_bytes);
  auto* row_indices = reinterpret_cast<std::int32_t*>(base + 2 * keys_bytes);
  auto* sorted_rows = reinterpret_cast<std::int32_t*>(base + 2 * keys_bytes + rows_bytes);
  void* sort_storage = base + 2 * keys_bytes + 2 * rows_bytes;

  FTHOST_LAUNCH(grid_for(rows), kThreads, 0, stream, embedding_keys_kernel)(
      keys, row_indices, ids, rows, vocabulary, invalid_key, error);
  check_launch("embedding_backward");
  // Radix sort is stable: equal ids keep their rows in order of n.
  check_cub(cub::DeviceRadixSort::SortPairs(sort_storage, sort_bytes, keys, sorted_keys, row_indices, sorted_rows,
                                            rows, 0, end_bit, stream),
            "cub::DeviceRadixSort::SortPairs");
  check_launch("embedding_backward");

  const i64 column_blocks = (channels + kThreads - 1) / kThreads;
  const dim3 grid(static_cast<unsigned>(rows < 65536 ? rows : 65536), static_cast<unsigned>(column_blocks));
  FTHOST_LAUNCH(grid, kThreads, 0, stream, embedding_backward_runs_kernel)(
      dtable, sorted_keys, sorted_rows, dout, rows, channels, invalid_key);
  check_launch("embedding_backward");
}

}  // namespace fthost::backend::cuda::kernels
