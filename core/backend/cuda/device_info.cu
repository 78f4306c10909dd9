#include "backend/cuda/device_info.hpp"

#include <cuda_runtime.h>

#include "backend/cuda/cuda_common.cuh"  // FTHOST_LAUNCH

namespace fthost::backend::cuda {
namespace {

// out[i] = a * x[i] + i, for one block of 256 threads.
__global__ void smoke_kernel(float a, const float* x, float* out, int n) {
  int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = a * x[i] + static_cast<float>(i);
}

std::string describe(cudaError_t status) { return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status); }

}  // namespace

CudaInventory query_cuda_devices() {
  CudaInventory inventory;
  cudaDriverGetVersion(&inventory.driver_version);
  cudaRuntimeGetVersion(&inventory.runtime_version);
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    inventory.problem = describe(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return inventory;
  }
  for (int index = 0; index < count; ++index) {
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, index) != cudaSuccess) continue;
    DeviceInfo device;
    device.index = index;
    device.name = properties.name;
    device.total_memory_bytes = properties.totalGlobalMem;
    device.compute_capability_major = properties.major;
    device.compute_capability_minor = properties.minor;
    device.multiprocessors = properties.multiProcessorCount;
    inventory.devices.push_back(device);
  }
  if (inventory.devices.empty()) inventory.problem = "the CUDA runtime reports no devices";
  return inventory;
}

std::string run_smoke_kernel(int device) {
  constexpr int count = 256;
  if (cudaError_t status = cudaSetDevice(device); status != cudaSuccess) return describe(status);
  float host_input[count];
  float host_output[count];
  for (int i = 0; i < count; ++i) host_input[i] = static_cast<float>(i) * 0.5f;
  float* input = nullptr;
  float* output = nullptr;
  std::string problem;
  if (cudaError_t status = cudaMalloc(&input, sizeof host_input); status != cudaSuccess) return describe(status);
  if (cudaError_t status = cudaMalloc(&output, sizeof host_output); status != cudaSuccess) {
    cudaFree(input);
    return describe(status);
  }
  cudaMemcpy(input, host_input, sizeof host_input, cudaMemcpyHostToDevice);
  FTHOST_LAUNCH(1, count, 0, nullptr, smoke_kernel)(2.0f, input, output, count);
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) status = cudaMemcpy(host_output, output, sizeof host_output, cudaMemcpyDeviceToHost);
  if (status != cudaSuccess) {
    problem = describe(status);
  } else {
    for (int i = 0; i < count; ++i) {
      float expected = 2.0f * host_input[i] + static_cast<float>(i);
      if (host_output[i] != expected) {
        problem = "smoke kernel wrote " + std::to_string(host_output[i]) + " at " + std::to_string(i) + ", expected " +
                  std::to_string(expected);
        break;
      }
    }
  }
  cudaFree(input);
  cudaFree(output);
  return problem;
}

}  // namespace fthost::backend::cuda
