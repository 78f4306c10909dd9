#include "backend/select_backend.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

#include "backend/cpu/cpu_backend.hpp"
#ifdef FTHOST_HAVE_CUDA
#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/device_info.hpp"
#endif

namespace fthost::backend {
namespace {

#ifdef FTHOST_HAVE_CUDA
std::string device_name(int device) {
  const cuda::CudaInventory inventory = cuda::query_cuda_devices();
  for (const cuda::DeviceInfo& info : inventory.devices) {
    if (info.index == device) return info.name;
  }
  return "unknown";
}
#endif

}  // namespace

bool cuda_backend_built() {
#ifdef FTHOST_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

BackendResolution resolve_backend(std::string_view requested) {
  BackendResolution resolution;
  resolution.description = "cpu";
  if (requested == "cpu") return resolution;
  if (requested != "auto" && requested != "cuda") {
    resolution.problem = "unknown backend '" + std::string(requested) + "' (expected auto, cpu or cuda)";
    return resolution;
  }
#ifdef FTHOST_HAVE_CUDA
  const std::string problem = cuda_backend_problem(0);
  if (problem.empty()) {
    resolution.kind = sdk::BackendKind::cuda;
    resolution.description = "cuda:0 (" + device_name(0) + ")";
    return resolution;
  }
  if (requested != "auto") resolution.problem = problem;
#else
  if (requested != "auto") {
    resolution.problem = "this build of fthost has no CUDA backend (it was built without nvcc; rebuild with "
                         "-DFTHOST_CUDA=ON on a machine with the CUDA toolkit)";
  }
#endif
  return resolution;
}

std::unique_ptr<Backend> make_backend(const BackendResolution& resolution) {
  if (!resolution.problem.empty()) throw std::logic_error("make_backend: " + resolution.problem);
#ifdef FTHOST_HAVE_CUDA
  if (resolution.kind == sdk::BackendKind::cuda) return make_cuda_backend(resolution.device);
#endif
  return make_cpu_backend();
}

Backend& shared_backend(const BackendResolution& resolution) {
  if (!resolution.problem.empty()) throw std::logic_error("shared_backend: " + resolution.problem);
  static std::mutex mutex;
  static std::map<std::pair<int, int>, std::unique_ptr<Backend>> backends;
  std::lock_guard lock(mutex);
  const std::pair key{static_cast<int>(resolution.kind), resolution.device};
  std::unique_ptr<Backend>& backend = backends[key];
  if (!backend) backend = make_backend(resolution);
  return *backend;
}

}  // namespace fthost::backend
