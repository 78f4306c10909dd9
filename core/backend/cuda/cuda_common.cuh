#pragma once
// What every kernel file of the CUDA backend shares: launch checks, grid sizing, deterministic
// warp/block reductions and the data-error flag (kernels.hpp explains it). CUDA sources only.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

#include "backend/cuda/kernels.hpp"

// Kernel launches are written FTHOST_LAUNCH(grid, block, shared_bytes, stream, kernel)(arguments),
// never kernel<<<...>>>(arguments): nvcc gets the <<<>>> launch, and a plain C++ compiler the CUDA
// emulator of tests/cuda_emulation, which runs these kernels on the CPU so that machines without
// a GPU test them against the CPU backend. The kernel comes last because a template argument list
// may contain commas.
//
// Dynamic shared memory is declared FTHOST_DYNAMIC_SHARED(type, name) (as `extern __shared__
// type name[]`), which the emulator maps onto the launch's buffer.
#if defined(__CUDACC__)
#define FTHOST_LAUNCH(grid, block, shared_bytes, stream, ...) __VA_ARGS__<<<grid, block, shared_bytes, stream>>>
#define FTHOST_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#elif defined(FTHOST_CUDA_EMULATION)
#define FTHOST_LAUNCH(grid, block, shared_bytes, stream, ...) \
  ::fthost::cuda_emulation::launch(grid, block, shared_bytes, stream, #__VA_ARGS__, __VA_ARGS__)
#define FTHOST_DYNAMIC_SHARED(type, name) \
  type* const name = static_cast<type*>(::fthost::cuda_emulation::dynamic_shared_memory())
#else
#error "CUDA sources compile with nvcc, or as C++ against the emulated toolkit of tests/cuda_emulation"
#endif

namespace fthost::backend::cuda::kernels {

// Throws std::runtime_error naming the kernel when a launch was refused (bad configuration, no
// code for this GPU). Asynchronous faults surface at the backend's next synchronisation.
inline void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA kernel ") + kernel + " failed to launch: " + cudaGetErrorName(status) +
                             ": " + cudaGetErrorString(status));
  }
}

inline constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: enough to fill any current GPU, never more than
// the elements need.
inline unsigned grid_for(i64 n, int threads = kThreads) {
  const i64 needed = (n + threads - 1) / threads;
  constexpr i64 kMaxBlocks = 4096;
  return static_cast<unsigned>(needed < 1 ? 1 : (needed < kMaxBlocks ? needed : kMaxBlocks));
}

__device__ inline void record_error(int* error, int code) {
  if (error != nullptr) atomicCAS(error, 0, code);
}

template <typename T>
__device__ inline T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

template <typename T>
__device__ inline T warp_max(T value) {
  for (int offset = 16; offset > 0; offset >>= 1) value = max(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. The order of additions depends only on blockDim, so results repeat bit for bit.
// `shared` holds 32 values; the call synchronises the block twice.
template <typename T>
__device__ inline T block_sum(T value, T* shared) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  value = warp_sum(value);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  value = lane < warps ? shared[lane] : T(0);
  return warp_sum(value);
}

template <typename T>
__device__ inline T block_max(T value, T* shared, T lowest) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  value = warp_max(value);
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  value = lane < warps ? shared[lane] : lowest;
  return warp_max(value);
}

}  // namespace fthost::backend::cuda::kernels
