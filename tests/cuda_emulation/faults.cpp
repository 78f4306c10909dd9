// Kernels with the bugs a GPU punishes, compiled and launched as fthost's kernels are: each
// scenario must end in the emulator's (or a sanitizer's) report, which ctest looks for
// (CMakeLists.txt). Usage: cuda_emulation_faults <scenario>.

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_common.cuh"

namespace {

// out[i] = in[i + 1]: the last thread reads in[n].
__global__ void read_past_end_kernel(float* out, const float* in, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i + 1];
}

// Half a warp waits at __syncthreads, the other half at a shuffle: neither can complete.
__global__ void deadlock_kernel(float* out) {
  float value = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    value = __shfl_xor_sync(0xffffffffu, value, 1);
  }
  out[threadIdx.x] = value;
}

// Lanes 0-15 call __syncwarp first: the shuffle meets lanes at different calls.
__global__ void divergence_kernel(float* out) {
  float value = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16) __syncwarp();
  value = __shfl_xor_sync(0xffffffffu, value, 16);
  out[threadIdx.x] = value;
}

// Lanes 16-31 return; lanes 0-15 then read them.
__global__ void read_returned_lane_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<float>(threadIdx.x), 16);
}

__global__ void misaligned_kernel(int* out, const unsigned char* bytes) {
  *out = *reinterpret_cast<const int*>(bytes + 1);  // a GPU faults on a misaligned 4-byte load
}

__global__ void store_kernel(float* out) { out[threadIdx.x] = 1.0f; }

template <typename T>
T* device_array(int count) {
  T* pointer = nullptr;
  if (cudaMalloc(&pointer, static_cast<std::size_t>(count) * sizeof(T)) != cudaSuccess) std::exit(2);
  return pointer;
}

}  // namespace

int main(int argc, char** argv) {
  // A device fault aborts; ctest counts a signal as a failure whatever the output, so the abort
  // becomes an exit here and the test passes on the report alone.
  std::signal(SIGABRT, [](int) { _exit(3); });
  const std::string scenario = argc > 1 ? argv[1] : "";
  float* out = device_array<float>(128);
  if (scenario == "out_of_bounds") {
    FTHOST_LAUNCH(1, 128, 0, nullptr, read_past_end_kernel)(out, device_array<float>(100), 100);
  } else if (scenario == "deadlock") {
    FTHOST_LAUNCH(1, 32, 0, nullptr, deadlock_kernel)(out);
  } else if (scenario == "divergence") {
    FTHOST_LAUNCH(1, 32, 0, nullptr, divergence_kernel)(out);
  } else if (scenario == "returned_lane") {
    FTHOST_LAUNCH(1, 32, 0, nullptr, read_returned_lane_kernel)(out);
  } else if (scenario == "misaligned") {
    FTHOST_LAUNCH(1, 1, 0, nullptr, misaligned_kernel)(device_array<int>(1), device_array<unsigned char>(8));
  } else if (scenario == "host_pointer") {
    static float host[128];
    FTHOST_LAUNCH(1, 32, 0, nullptr, store_kernel)(host);
  } else {
    std::fprintf(stderr, "usage: cuda_emulation_faults out_of_bounds|deadlock|divergence|returned_lane|misaligned|"
                         "host_pointer\n");
    return 2;
  }
  std::printf("scenario %s ran without a report\n", scenario.c_str());
  return 1;
}
