#pragma once
// The device half of the emulated CUDA runtime (cuda_runtime.h includes it): what kernel code
// names. Every CUDA thread of a block is a fiber (src/execution.cpp): __syncthreads and the warp
// collectives suspend it until the block or warp has arrived, and an index computed from
// threadIdx, blockIdx, blockDim and gridDim is the one the GPU would compute.
//
// Shared memory: `__shared__` becomes `static`, one object that all threads of a block share.
// Blocks run one at a time and the emulator runs one grid at a time, so that object serves every
// block in turn; it starts zeroed, once, and keeps its values from block to block (a kernel that
// reads shared memory it did not write is not caught). Kernels live in anonymous namespaces, so
// these objects have internal linkage and AddressSanitizer guards their bounds. `extern __shared__`
// (dynamic shared memory) cannot be spelled this way: kernels write FTHOST_DYNAMIC_SHARED
// (backend/cuda/cuda_common.cuh), which is the launch's buffer here.

#include <math.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fthost_cuda_emulation/runtime_api.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __constant__
#define __align__(n) alignas(n)
#define __shared__ static

namespace fthost::cuda_emulation {

inline constexpr unsigned kWarpSize = 32;

// src/execution.cpp: the calling CUDA thread's block and warp.
void synchronize_block();
void synchronize_warp(unsigned mask);
// Every lane of the warp passes `bits` and gets the bits lane `source_lane` passed.
std::uint64_t exchange_in_warp(unsigned mask, std::uint64_t bits, unsigned source_lane, const char* intrinsic);
// Bit l set when lane l passed true.
unsigned ballot_in_warp(unsigned mask, bool predicate, const char* intrinsic);
unsigned lane_id();
unsigned checked_shuffle_width(int width, const char* intrinsic);
void* dynamic_shared_memory();

template <typename T>
T shuffle_from(unsigned mask, T value, unsigned source_lane, const char* intrinsic) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move values of at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = exchange_in_warp(mask, bits, source_lane, intrinsic);
  T result;
  std::memcpy(&result, &bits, sizeof(T));
  return result;
}

}  // namespace fthost::cuda_emulation

// The built-in variables: the scheduler sets them before it resumes each CUDA thread (fibers run
// on the launching host thread). Other host threads see zeros.
inline thread_local uint3 threadIdx __attribute__((tls_model("initial-exec"))) = {0, 0, 0};
inline thread_local uint3 blockIdx __attribute__((tls_model("initial-exec"))) = {0, 0, 0};
inline thread_local dim3 blockDim __attribute__((tls_model("initial-exec"))) = {1, 1, 1};
inline thread_local dim3 gridDim __attribute__((tls_model("initial-exec"))) = {1, 1, 1};
inline constexpr int warpSize = 32;

// ---- synchronisation ----

inline void __syncthreads() { fthost::cuda_emulation::synchronize_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { fthost::cuda_emulation::synchronize_warp(mask); }

// Shuffles: source lanes as the CUDA Programming Guide defines them, within segments of `width`
// lanes. A lane whose source falls outside its segment gets its own value.
template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  namespace emu = fthost::cuda_emulation;
  const unsigned segment = emu::checked_shuffle_width(width, "__shfl_sync");
  const unsigned lane = emu::lane_id();
  const unsigned source = (lane & ~(segment - 1)) + (static_cast<unsigned>(src_lane) & (segment - 1));
  return emu::shuffle_from(mask, var, source, "__shfl_sync");
}

template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  namespace emu = fthost::cuda_emulation;
  const unsigned segment = emu::checked_shuffle_width(width, "__shfl_up_sync");
  const unsigned lane = emu::lane_id();
  const unsigned source = (lane & (segment - 1)) >= delta ? lane - delta : lane;
  return emu::shuffle_from(mask, var, source, "__shfl_up_sync");
}

template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  namespace emu = fthost::cuda_emulation;
  const unsigned segment = emu::checked_shuffle_width(width, "__shfl_down_sync");
  const unsigned lane = emu::lane_id();
  const unsigned source = (lane & (segment - 1)) + delta < segment ? lane + delta : lane;
  return emu::shuffle_from(mask, var, source, "__shfl_down_sync");
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  namespace emu = fthost::cuda_emulation;
  const unsigned segment = emu::checked_shuffle_width(width, "__shfl_xor_sync");
  const unsigned lane = emu::lane_id();
  unsigned source = lane ^ static_cast<unsigned>(lane_mask);
  if (source >= (lane & ~(segment - 1)) + segment) source = lane;  // a later segment: own value
  return emu::shuffle_from(mask, var, source, "__shfl_xor_sync");
}

inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return fthost::cuda_emulation::ballot_in_warp(mask, predicate != 0, "__ballot_sync");
}
inline int __any_sync(unsigned mask, int predicate) {
  return fthost::cuda_emulation::ballot_in_warp(mask, predicate != 0, "__any_sync") != 0;
}
inline int __all_sync(unsigned mask, int predicate) {
  return fthost::cuda_emulation::ballot_in_warp(mask, predicate == 0, "__all_sync") == 0;
}

// ---- atomics (integers; fthost kernels use no floating-point atomics: results must repeat) ----

template <typename T>
concept EmulatedAtomicInteger = std::is_same_v<T, int> || std::is_same_v<T, unsigned int> ||
                                std::is_same_v<T, unsigned long long int>;

template <EmulatedAtomicInteger T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;  // the old value either way
}
template <EmulatedAtomicInteger T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <EmulatedAtomicInteger T>
T atomicSub(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_sub(value);
}
template <EmulatedAtomicInteger T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}
template <EmulatedAtomicInteger T>
T atomicAnd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_and(value);
}
template <EmulatedAtomicInteger T>
T atomicOr(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_or(value);
}
template <EmulatedAtomicInteger T>
T atomicXor(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_xor(value);
}
template <EmulatedAtomicInteger T>
T atomicMax(T* address, T value) {
  std::atomic_ref<T> target(*address);
  T old = target.load();
  while (old < value && !target.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <EmulatedAtomicInteger T>
T atomicMin(T* address, T value) {
  std::atomic_ref<T> target(*address);
  T old = target.load();
  while (value < old && !target.compare_exchange_weak(old, value)) {
  }
  return old;
}
// Floating-point atomics add in an order that changes from run to run; fthost's kernels must
// repeat bit for bit (backend/cuda/kernels.hpp), so the emulation refuses them at compile time.
float atomicAdd(float* address, float value) = delete;
double atomicAdd(double* address, double value) = delete;

// ---- arithmetic intrinsics: IEEE operations, never contracted into fused multiply-adds ----

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float rsqrtf(float a) { return 1.0f / std::sqrt(a); }
inline double rsqrt(double a) { return 1.0 / std::sqrt(a); }

inline unsigned int __float_as_uint(float value) { return std::bit_cast<unsigned int>(value); }
inline float __uint_as_float(unsigned int bits) { return std::bit_cast<float>(bits); }
inline int __float_as_int(float value) { return std::bit_cast<int>(value); }
inline float __int_as_float(int bits) { return std::bit_cast<float>(bits); }
inline long long int __double_as_longlong(double value) { return std::bit_cast<long long int>(value); }
inline double __longlong_as_double(long long int bits) { return std::bit_cast<double>(bits); }

inline int __popc(unsigned int x) { return std::popcount(x); }
inline int __popcll(unsigned long long int x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned int>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned int>(x)) + 1; }

// Four byte products summed into c, modulo 2^32 as the instruction wraps.
inline int __dp4a(int a, int b, int c) {
  std::int64_t sum = c;
  for (int byte = 0; byte < 4; ++byte) {
    const auto a_byte = static_cast<std::int8_t>(static_cast<std::uint32_t>(a) >> (8 * byte));
    const auto b_byte = static_cast<std::int8_t>(static_cast<std::uint32_t>(b) >> (8 * byte));
    sum += static_cast<std::int64_t>(a_byte) * b_byte;
  }
  return static_cast<int>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(sum)));
}
inline unsigned int __dp4a(unsigned int a, unsigned int b, unsigned int c) {
  std::uint64_t sum = c;
  for (int byte = 0; byte < 4; ++byte) sum += ((a >> (8 * byte)) & 0xFFu) * ((b >> (8 * byte)) & 0xFFu);
  return static_cast<unsigned int>(sum);
}

template <typename T>
T __ldg(const T* address) {
  return *address;
}

// ---- min and max: CUDA's overload set (math_functions.hpp), so mixed arguments resolve alike ----

inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int min(int a, unsigned int b) { return min(static_cast<unsigned int>(a), b); }
inline unsigned int min(unsigned int a, int b) { return min(a, static_cast<unsigned int>(b)); }
inline long int min(long int a, long int b) { return a < b ? a : b; }
inline unsigned long int min(unsigned long int a, unsigned long int b) { return a < b ? a : b; }
inline unsigned long int min(long int a, unsigned long int b) { return min(static_cast<unsigned long int>(a), b); }
inline unsigned long int min(unsigned long int a, long int b) { return min(a, static_cast<unsigned long int>(b)); }
inline long long int min(long long int a, long long int b) { return a < b ? a : b; }
inline unsigned long long int min(unsigned long long int a, unsigned long long int b) { return a < b ? a : b; }
inline unsigned long long int min(long long int a, unsigned long long int b) {
  return min(static_cast<unsigned long long int>(a), b);
}
inline unsigned long long int min(unsigned long long int a, long long int b) {
  return min(a, static_cast<unsigned long long int>(b));
}
inline float min(float a, float b) { return std::fmin(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double min(float a, double b) { return std::fmin(static_cast<double>(a), b); }
inline double min(double a, float b) { return std::fmin(a, static_cast<double>(b)); }

inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline unsigned int max(int a, unsigned int b) { return max(static_cast<unsigned int>(a), b); }
inline unsigned int max(unsigned int a, int b) { return max(a, static_cast<unsigned int>(b)); }
inline long int max(long int a, long int b) { return a > b ? a : b; }
inline unsigned long int max(unsigned long int a, unsigned long int b) { return a > b ? a : b; }
inline unsigned long int max(long int a, unsigned long int b) { return max(static_cast<unsigned long int>(a), b); }
inline unsigned long int max(unsigned long int a, long int b) { return max(a, static_cast<unsigned long int>(b)); }
inline long long int max(long long int a, long long int b) { return a > b ? a : b; }
inline unsigned long long int max(unsigned long long int a, unsigned long long int b) { return a > b ? a : b; }
inline unsigned long long int max(long long int a, unsigned long long int b) {
  return max(static_cast<unsigned long long int>(a), b);
}
inline unsigned long long int max(unsigned long long int a, long long int b) {
  return max(a, static_cast<unsigned long long int>(b));
}
inline float max(float a, float b) { return std::fmax(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double max(float a, double b) { return std::fmax(static_cast<double>(a), b); }
inline double max(double a, float b) { return std::fmax(a, static_cast<double>(b)); }
