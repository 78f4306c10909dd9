// The emulated CUDA toolkit against the definitions it emulates: launch geometry, barriers,
// shuffles and votes, atomics and intrinsics, launch and memory errors, cuBLAS GEMM and CUB's
// radix sort. The parity suite trusts these to behave as CUDA does; a fake that agreed with a
// wrong kernel would hide its bug. (faults.cpp covers what aborts: device faults.)

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cub/cub.cuh>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/float16.hpp"

namespace {

// Device memory holding a copy of `values`, freed at scope exit.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& values) : count_(values.size()) {
    REQUIRE(cudaMalloc(&data_, bytes()) == cudaSuccess);
    if (!values.empty()) REQUIRE(cudaMemcpy(data_, values.data(), bytes(), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  explicit DeviceArray(std::size_t count) : DeviceArray(std::vector<T>(count)) {}
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return data_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  std::vector<T> values() const {
    std::vector<T> host(count_);
    if (count_ != 0) REQUIRE(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost) == cudaSuccess);
    return host;
  }

 private:
  std::size_t count_;
  T* data_ = nullptr;
};

// ---- kernels ----

// out[block, thread] = the built-in variables as this thread sees them; hits[...] counts runs.
__global__ void geometry_kernel(unsigned* out, int* hits) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned at = block * blockDim.x * blockDim.y * blockDim.z + thread;
  out[4 * at + 0] = threadIdx.x | threadIdx.y << 8 | threadIdx.z << 16;
  out[4 * at + 1] = blockIdx.x | blockIdx.y << 8 | blockIdx.z << 16;
  out[4 * at + 2] = blockDim.x | blockDim.y << 8 | blockDim.z << 16;
  out[4 * at + 3] = gridDim.x | gridDim.y << 8 | gridDim.z << 16;
  atomicAdd(&hits[at], 1);
}

// Each block reverses its 256 values through shared memory.
__global__ void reverse_kernel(float* out, const float* in) {
  __shared__ float tile[256];
  const unsigned base = blockIdx.x * 256;
  tile[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = tile[255 - threadIdx.x];
}

// Per lane of a 64-thread block: the shuffles' results for value = 100 * lane + 7.
__global__ void shuffle_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  const int value = 100 * lane + 7;
  int* row = out + 8 * lane;
  row[0] = __shfl_xor_sync(0xffffffffu, value, 5);
  row[1] = __shfl_xor_sync(0xffffffffu, value, 9, 8);  // 9 leaves an 8-lane segment for some lanes
  row[2] = __shfl_down_sync(0xffffffffu, value, 3);
  row[3] = __shfl_down_sync(0xffffffffu, value, 3, 16);
  row[4] = __shfl_up_sync(0xffffffffu, value, 2);
  row[5] = __shfl_sync(0xffffffffu, value, 17);
  row[6] = __shfl_sync(0xffffffffu, value, 5, 4);
  row[7] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0)) + 10 * __any_sync(0xffffffffu, lane == 40) +
           100 * __all_sync(0xffffffffu, lane < 63);
}

// Doubles in a shuffle keep all 64 bits; a 48-thread block has a partial second warp.
__global__ void wide_shuffle_kernel(double* out) {
  const double value = 1.0 + std::ldexp(1.0, -40) * threadIdx.x;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, value, 1);
}

__global__ void dynamic_shared_kernel(unsigned* out, unsigned count) {
  FTHOST_DYNAMIC_SHARED(unsigned, scratch);
  if (threadIdx.x == 0) out[2 * blockIdx.x] = scratch[count - 1];  // before anything was written
  __syncthreads();
  for (unsigned i = threadIdx.x; i < count; i += blockDim.x) scratch[i] = i + blockIdx.x;
  __syncthreads();
  if (threadIdx.x == 0) out[2 * blockIdx.x + 1] = scratch[count - 1];
}

// Missing barriers, as the scheduler must expose them (results are correct only with them).
// Read after write: each thread reads what another warp's thread wrote, with no barrier between.
__global__ void missing_barrier_read_kernel(int* out) {
  __shared__ int values[256];
  values[threadIdx.x] = static_cast<int>(threadIdx.x);
  out[blockIdx.x * 256 + threadIdx.x] = values[(threadIdx.x + 32) % 256];
}

// Write after read: the second phase overwrites values another warp has yet to read, with only a
// warp collective (no block barrier) between, as block_sum would without its first __syncthreads.
__global__ void missing_barrier_overwrite_kernel(int* out) {
  __shared__ int values[256];
  values[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  int seen = values[(threadIdx.x + 32) % 256];
  seen = __shfl_xor_sync(0xffffffffu, seen, 1);
  values[threadIdx.x] = -1;
  out[blockIdx.x * 256 + threadIdx.x] = seen;
}

__global__ void noop_kernel(int* out) {
  if (out != nullptr) *out = 1;
}

// ---- helpers ----

std::vector<float> random_floats(std::size_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& value : values) value = distribution(rng);
  return values;
}

}  // namespace

TEST_CASE("launch: every thread of every block runs once and sees CUDA's geometry") {
  const dim3 grid(3, 2, 2), block(5, 3, 2);  // 30 threads: one warp, partly filled
  const unsigned threads = 30, blocks = 12;
  DeviceArray<unsigned> out(4 * threads * blocks);
  DeviceArray<int> hits(threads * blocks);
  FTHOST_LAUNCH(grid, block, 0, nullptr, geometry_kernel)(out.get(), hits.get());
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const auto seen = out.values();
  const auto counts = hits.values();
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < threads; ++t) {
      const unsigned at = b * threads + t;
      CHECK(counts[at] == 1);
      CHECK(seen[4 * at + 0] == (t % 5 | (t / 5 % 3) << 8 | (t / 15) << 16));
      CHECK(seen[4 * at + 1] == (b % 3 | (b / 3 % 2) << 8 | (b / 6) << 16));
      CHECK(seen[4 * at + 2] == (5u | 3u << 8 | 2u << 16));
      CHECK(seen[4 * at + 3] == (3u | 2u << 8 | 2u << 16));
    }
  }
}

TEST_CASE("launch: __syncthreads orders shared memory within each block") {
  std::mt19937 rng(1);
  const auto input = random_floats(256 * 37, rng);
  DeviceArray<float> in(input), out(input.size());
  FTHOST_LAUNCH(37, 256, 0, nullptr, reverse_kernel)(out.get(), in.get());
  const auto result = out.values();
  for (std::size_t b = 0; b < 37; ++b) {
    for (std::size_t i = 0; i < 256; ++i) CHECK(result[b * 256 + i] == input[b * 256 + 255 - i]);
  }
}

TEST_CASE("launch: the schedule exposes missing barriers within a block") {
  // Blocks alternate the thread order and the warp interleaving: among four blocks, some read
  // what a barrier would have made them read and some do not.
  for (auto kernel : {&missing_barrier_read_kernel, &missing_barrier_overwrite_kernel}) {
    DeviceArray<int> out(4 * 256);
    FTHOST_LAUNCH(4, 256, 0, nullptr, *kernel)(out.get());
    const auto result = out.values();
    int correct_blocks = 0;
    for (unsigned b = 0; b < 4; ++b) {
      bool correct = true;
      for (unsigned t = 0; t < 256; ++t) {
        const unsigned source = kernel == &missing_barrier_read_kernel ? (t + 32) % 256 : ((t ^ 1u) + 32) % 256;
        correct = correct && result[b * 256 + t] == static_cast<int>(source);
      }
      correct_blocks += correct ? 1 : 0;
    }
    CHECK(correct_blocks < 4);
  }
}

TEST_CASE("launch: shuffles and votes follow the CUDA Programming Guide") {
  DeviceArray<int> out(64 * 8);
  FTHOST_LAUNCH(1, 64, 0, nullptr, shuffle_kernel)(out.get());
  const auto result = out.values();
  const auto value = [](int lane) { return 100 * lane + 7; };
  for (int thread = 0; thread < 64; ++thread) {
    CAPTURE(thread);
    const int lane = thread % 32, warp_base = thread - lane;
    const int* row = result.data() + 8 * thread;
    CHECK(row[0] == value(warp_base + (lane ^ 5)));
    const int xor_source = lane ^ 9;  // in a later 8-lane segment: own value
    CHECK(row[1] == value(warp_base + (xor_source >= (lane & ~7) + 8 ? lane : xor_source)));
    CHECK(row[2] == value(warp_base + (lane + 3 < 32 ? lane + 3 : lane)));
    CHECK(row[3] == value(warp_base + ((lane & 15) + 3 < 16 ? lane + 3 : lane)));
    CHECK(row[4] == value(warp_base + (lane >= 2 ? lane - 2 : lane)));
    CHECK(row[5] == value(warp_base + 17));
    CHECK(row[6] == value(warp_base + (lane & ~3) + 1));
    unsigned ballot = 0;
    for (int other = 0; other < 32; ++other) ballot |= ((warp_base + other) % 3 == 0 ? 1u : 0u) << other;
    const int any = thread >= 32 ? 1 : 0, all = thread < 32 ? 1 : 0;
    CHECK(row[7] == static_cast<int>(ballot) + 10 * any + 100 * all);
  }

  DeviceArray<double> wide(48);
  FTHOST_LAUNCH(1, 48, 0, nullptr, wide_shuffle_kernel)(wide.get());
  const auto doubles = wide.values();
  for (unsigned t = 0; t < 48; ++t) CHECK(doubles[t] == 1.0 + std::ldexp(1.0, -40) * (t ^ 1u));
}

TEST_CASE("launch: dynamic shared memory is sized by the launch and starts as garbage in every block") {
  constexpr unsigned count = 3000;
  DeviceArray<unsigned> out(2 * 5);
  FTHOST_LAUNCH(5, 128, count * sizeof(unsigned), nullptr, dynamic_shared_kernel)(out.get(), count);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const auto result = out.values();
  for (unsigned b = 0; b < 5; ++b) {
    CHECK(result[2 * b] == 0xFFFFFFFFu);
    CHECK(result[2 * b + 1] == count - 1 + b);
  }
}

TEST_CASE("launch: a bad configuration is refused as the runtime refuses it") {
  DeviceArray<int> flag(std::vector<int>{0});
  cudaGetLastError();
  FTHOST_LAUNCH(1, 1025, 0, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // not sticky
  FTHOST_LAUNCH(dim3(1, 65536), 32, 0, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  FTHOST_LAUNCH(dim3(0), 32, 0, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  FTHOST_LAUNCH(1, dim3(32, 32, 2), 0, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  FTHOST_LAUNCH(1, 32, 49 * 1024, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamDestroy(stream) == cudaSuccess);
  FTHOST_LAUNCH(1, 32, 0, stream, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaErrorInvalidResourceHandle);
  CHECK(flag.values()[0] == 0);  // none of them ran
  FTHOST_LAUNCH(1, 32, 0, nullptr, noop_kernel)(flag.get());
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(flag.values()[0] == 1);
}

TEST_CASE("intrinsics: atomics, __dp4a, the _rn operations and 16-bit conversions") {
  int counter = 5;
  CHECK(atomicCAS(&counter, 5, 9) == 5);
  CHECK(atomicCAS(&counter, 5, 11) == 9);
  CHECK(counter == 9);
  CHECK(atomicAdd(&counter, 3) == 9);
  CHECK(atomicMax(&counter, 4) == 12);
  CHECK(atomicMin(&counter, 4) == 12);
  CHECK(counter == 4);

  std::mt19937 rng(2);
  for (int trial = 0; trial < 1000; ++trial) {
    const auto a = static_cast<int>(rng()), b = static_cast<int>(rng()), c = static_cast<int>(rng());
    std::int64_t expected = c;
    for (int byte = 0; byte < 4; ++byte) {
      expected += static_cast<std::int64_t>(static_cast<std::int8_t>(static_cast<unsigned>(a) >> (8 * byte))) *
                  static_cast<std::int8_t>(static_cast<unsigned>(b) >> (8 * byte));
    }
    CHECK(__dp4a(a, b, c) == static_cast<int>(static_cast<std::uint32_t>(expected)));
  }
  const auto all_minus_128 = static_cast<int>(0x80808080u);
  CHECK(__dp4a(all_minus_128, all_minus_128, 0x7FFFFFFF) == static_cast<int>(0x7FFFFFFFu + 4u * 16384u));

  // f32 -> bf16 and f16 round as backend/float16.hpp; NaN becomes the GPU's canonical NaN.
  for (int trial = 0; trial < 100000; ++trial) {
    const float value = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
    if (std::isnan(value)) {
      CHECK(__bfloat16_as_ushort(__float2bfloat16_rn(value)) == 0x7FFF);
      CHECK(__half_as_ushort(__float2half_rn(value)) == 0x7FFF);
      continue;
    }
    CHECK(__bfloat16_as_ushort(__float2bfloat16_rn(value)) == fthost::backend::float_to_bf16_bits(value));
    CHECK(__half_as_ushort(__float2half_rn(value)) == fthost::backend::float_to_f16_bits(value));
    // Around f16's range, subnormals and overflow included: the round trip is float16.hpp's.
    const float near = std::ldexp(1.0f + static_cast<float>(rng() % 4096) / 4096.0f, static_cast<int>(rng() % 45) - 28);
    CHECK(std::bit_cast<std::uint32_t>(__half2float(__float2half_rn(near))) ==
          std::bit_cast<std::uint32_t>(fthost::backend::round_to_f16(near)));
  }
  CHECK(std::bit_cast<std::uint32_t>(__half2float(__ushort_as_half(0x7C01))) == 0x7FFFFFFFu);
}

TEST_CASE("memory: device memory starts as garbage, and copies are checked against where pointers live") {
  float* device = nullptr;
  REQUIRE(cudaMalloc(&device, 64 * sizeof(float)) == cudaSuccess);
  std::vector<float> host(64, 1.0f);
  REQUIRE(cudaMemcpy(host.data(), device, 64 * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(std::bit_cast<std::uint32_t>(host[17]) == 0xFFFFFFFFu);

  // Direction swapped, past the allocation's end, overlapping: refused, not performed.
  CHECK(cudaMemcpy(host.data(), device, 64 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(device + 1, host.data(), 64 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(device + 1, device, 8 * sizeof(float), cudaMemcpyDeviceToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemset(host.data(), 0, 4) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(device + 1, host.data(), 63 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemsetAsync(device, 0, sizeof(float), nullptr) == cudaSuccess);

  // Pinned memory is host memory for copies and device-accessible at the same address.
  int* pinned = nullptr;
  REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&pinned), sizeof(int), cudaHostAllocMapped) == cudaSuccess);
  int* mapped = nullptr;
  CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&mapped), pinned, 0) == cudaSuccess);
  CHECK(mapped == pinned);
  CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&mapped), host.data(), 0) == cudaErrorInvalidValue);
  *pinned = 0;
  FTHOST_LAUNCH(1, 32, 0, nullptr, noop_kernel)(mapped);
  CHECK(*pinned == 1);
  CHECK(cudaFree(pinned) == cudaErrorInvalidValue);
  CHECK(cudaFreeHost(pinned) == cudaSuccess);
  CHECK(cudaFree(host.data()) == cudaErrorInvalidValue);
  CHECK(cudaFree(device) == cudaSuccess);
  cudaGetLastError();

  int count = 0;
  CHECK(cudaGetDeviceCount(&count) == cudaSuccess);
  CHECK(count == 1);
  cudaDeviceProp properties{};
  CHECK(cudaGetDeviceProperties(&properties, 0) == cudaSuccess);
  CHECK(std::string(properties.name) == "emulated CUDA device (CPU)");
  CHECK(properties.major == 9);
  CHECK(properties.minor == 0);
  CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
}

namespace {

// C (column-major m x n, ldc) = alpha op(A) op(B) + beta C in double, by the definition.
std::vector<double> reference_gemm(bool transpose_a, bool transpose_b, int m, int n, int k, double alpha,
                                   const std::vector<float>& a, int lda, const std::vector<float>& b, int ldb,
                                   double beta, const std::vector<float>& c, int ldc) {
  std::vector<double> result(c.begin(), c.end());
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double sum = 0.0;
      for (int l = 0; l < k; ++l) {
        const float a_il = transpose_a ? a[static_cast<std::size_t>(l + i * lda)] : a[static_cast<std::size_t>(i + l * lda)];
        const float b_lj = transpose_b ? b[static_cast<std::size_t>(j + l * ldb)] : b[static_cast<std::size_t>(l + j * ldb)];
        sum += static_cast<double>(a_il) * static_cast<double>(b_lj);
      }
      const auto at = static_cast<std::size_t>(i + j * ldc);
      result[at] = alpha * sum + (beta == 0.0 ? 0.0 : beta * static_cast<double>(c[at]));
    }
  }
  return result;
}

}  // namespace

TEST_CASE("cuBLAS: Sgemm and GemmEx compute the column-major definition") {
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  std::mt19937 rng(3);
  const int m = 7, n = 5, k = 9;
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      CAPTURE(transpose_a);
      CAPTURE(transpose_b);
      // Leading dimensions beyond the rows, so that a swapped ld reads the wrong elements.
      const int lda = (transpose_a ? k : m) + 3, ldb = (transpose_b ? n : k) + 2, ldc = m + 1;
      const auto a = random_floats(static_cast<std::size_t>(lda * (transpose_a ? m : k)), rng);
      const auto b = random_floats(static_cast<std::size_t>(ldb * (transpose_b ? k : n)), rng);
      auto c = random_floats(static_cast<std::size_t>(ldc * n), rng);
      DeviceArray<float> da(a), db(b), dc(c);
      const float alpha = 0.5f, beta = -1.25f;
      REQUIRE(cublasSgemm(handle, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                          m, n, k, &alpha, da.get(), lda, db.get(), ldb, &beta, dc.get(), ldc) ==
              CUBLAS_STATUS_SUCCESS);
      const auto expected = reference_gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      const auto result = dc.values();
      for (std::size_t i = 0; i < result.size(); ++i) CHECK(std::abs(static_cast<double>(result[i]) - expected[i]) < 1e-5);

      // bf16 inputs, f32 output; beta 0 writes C without reading it (NaN there stays out).
      std::vector<std::uint16_t> a16(a.size()), b16(b.size());
      std::vector<float> a_rounded(a.size()), b_rounded(b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        a16[i] = fthost::backend::float_to_bf16_bits(a[i]);
        a_rounded[i] = fthost::backend::bf16_bits_to_float(a16[i]);
      }
      for (std::size_t i = 0; i < b.size(); ++i) {
        b16[i] = fthost::backend::float_to_bf16_bits(b[i]);
        b_rounded[i] = fthost::backend::bf16_bits_to_float(b16[i]);
      }
      DeviceArray<std::uint16_t> da16(a16), db16(b16);
      DeviceArray<float> dnan(std::vector<float>(c.size(), std::nanf("")));
      const float zero = 0.0f;
      REQUIRE(cublasGemmEx(handle, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                           m, n, k, &alpha, da16.get(), CUDA_R_16BF, lda, db16.get(), CUDA_R_16BF, ldb, &zero,
                           dnan.get(), CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) ==
              CUBLAS_STATUS_SUCCESS);
      const auto expected16 =
          reference_gemm(transpose_a, transpose_b, m, n, k, alpha, a_rounded, lda, b_rounded, ldb, 0.0, c, ldc);
      const auto result16 = dnan.values();
      for (int j = 0; j < n; ++j) {
        for (int i = 0; i < m; ++i) {
          const auto at = static_cast<std::size_t>(i + j * ldc);
          CHECK(std::abs(static_cast<double>(result16[at]) - expected16[at]) < 1e-5);
        }
      }
    }
  }
  // cuBLAS's argument checks: a leading dimension below the stored rows.
  DeviceArray<float> small(std::vector<float>(64, 1.0f));
  const float one = 1.0f;
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, small.get(), 3, small.get(), 4, &one, small.get(),
                    4) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, 4, 4, 2, &one, small.get(), 1, small.get(), 4, &one, small.get(),
                    4) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, small.get(), 4, small.get(), 4, &one, small.get(),
                    3) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");

  // TF32 math mode rounds f32 inputs to 10 mantissa bits: 1 + 2^-12 becomes 1.
  const float slightly_more = 1.0f + std::ldexp(1.0f, -12);
  DeviceArray<float> x(std::vector<float>{slightly_more}), y(std::vector<float>{1.0f}), z(std::vector<float>{0.0f});
  const float zero = 0.0f;
  REQUIRE(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, x.get(), 1, y.get(), 1, &zero, z.get(), 1) ==
          CUBLAS_STATUS_SUCCESS);
  CHECK(z.values()[0] == slightly_more);
  REQUIRE(cublasSetMathMode(handle, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, x.get(), 1, y.get(), 1, &zero, z.get(), 1) ==
          CUBLAS_STATUS_SUCCESS);
  CHECK(z.values()[0] == 1.0f);
  CHECK(cublasDestroy(handle) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("cub: SortPairs sorts by the given bits, stably, with the two-call storage protocol") {
  std::mt19937 rng(4);
  for (int end_bit : {32, 11, 3, 0}) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{1000}}) {
      CAPTURE(end_bit);
      CAPTURE(count);
      std::vector<std::uint32_t> keys(count);
      for (auto& key : keys) key = static_cast<std::uint32_t>(rng() % 3000);
      std::vector<std::int32_t> rows(count);
      std::iota(rows.begin(), rows.end(), 0);
      DeviceArray<std::uint32_t> keys_in(keys), keys_out(count);
      DeviceArray<std::int32_t> rows_in(rows), rows_out(count);
      std::size_t bytes = 0;
      REQUIRE(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in.get(), keys_out.get(), rows_in.get(),
                                              rows_out.get(), static_cast<std::int64_t>(count), 0, end_bit) ==
              cudaSuccess);
      REQUIRE(bytes > 0);
      DeviceArray<unsigned char> storage(bytes);
      std::size_t too_few = bytes - 1;
      CHECK(cub::DeviceRadixSort::SortPairs(storage.get(), too_few, keys_in.get(), keys_out.get(), rows_in.get(),
                                            rows_out.get(), static_cast<std::int64_t>(count), 0, end_bit) ==
            cudaErrorInvalidValue);
      cudaGetLastError();
      REQUIRE(cub::DeviceRadixSort::SortPairs(storage.get(), bytes, keys_in.get(), keys_out.get(), rows_in.get(),
                                              rows_out.get(), static_cast<std::int64_t>(count), 0, end_bit) ==
              cudaSuccess);
      const std::uint32_t mask = end_bit == 32 ? 0xFFFFFFFFu : (1u << end_bit) - 1;
      std::vector<std::int32_t> expected = rows;
      std::stable_sort(expected.begin(), expected.end(), [&](std::int32_t x, std::int32_t y) {
        return (keys[static_cast<std::size_t>(x)] & mask) < (keys[static_cast<std::size_t>(y)] & mask);
      });
      const auto sorted_rows = rows_out.values();
      const auto sorted_keys = keys_out.values();
      CHECK(sorted_rows == expected);
      for (std::size_t i = 0; i < count; ++i) {
        CHECK(sorted_keys[i] == keys[static_cast<std::size_t>(expected[i])]);
      }
      CHECK(keys_in.values() == keys);  // inputs untouched
    }
  }
}
