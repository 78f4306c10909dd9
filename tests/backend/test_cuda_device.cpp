// The CUDA backend sees the GPU and runs code compiled for its architecture. Skips (exit 77)
// where no device is present, so ctest reports "Skipped" on CPU-only machines.

#include <cstdio>

#include "backend/cuda/device_info.hpp"

int main() {
  fthost::backend::cuda::CudaInventory inventory = fthost::backend::cuda::query_cuda_devices();
  if (inventory.devices.empty()) {
    std::printf("SKIPPED: no CUDA device (%s)\n", inventory.problem.c_str());
    return 77;
  }
  int failures = 0;
  for (const auto& device : inventory.devices) {
    std::printf("device %d: %s, %.1f GiB, compute capability %d.%d, %d SMs\n", device.index, device.name.c_str(),
                static_cast<double>(device.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0),
                device.compute_capability_major, device.compute_capability_minor, device.multiprocessors);
    std::string problem = fthost::backend::cuda::run_smoke_kernel(device.index);
    if (!problem.empty()) {
      std::printf("FAIL: device %d: %s\n", device.index, problem.c_str());
      ++failures;
    }
  }
  std::printf("%d passed, %d failed\n", static_cast<int>(inventory.devices.size()) - failures, failures);
  return failures == 0 ? 0 : 1;
}
