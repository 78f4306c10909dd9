#pragma once
// What the CUDA runtime reports about the GPUs of this machine. Compiled only when the CUDA
// backend is built (FTHOST_HAVE_CUDA); callers treat "no device" as a normal answer, not an error.

#include <cstdint>
#include <string>
#include <vector>

namespace fthost::backend::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::uint64_t total_memory_bytes = 0;
  int compute_capability_major = 0;
  int compute_capability_minor = 0;
  int multiprocessors = 0;
};

struct CudaInventory {
  std::vector<DeviceInfo> devices;
  int driver_version = 0;   // e.g. 13000 for 13.0; 0 when no driver is installed
  int runtime_version = 0;
  std::string problem;      // why no device could be used, when devices is empty
};

CudaInventory query_cuda_devices();

// Runs a trivial kernel on `device` and checks its result: proves that the fatbinary contains code
// for this GPU's architecture. Returns an empty string on success, the reason otherwise.
std::string run_smoke_kernel(int device);

}  // namespace fthost::backend::cuda
