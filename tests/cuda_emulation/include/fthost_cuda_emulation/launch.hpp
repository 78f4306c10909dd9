#pragma once
// Emulated kernel launches. backend/cuda/cuda_common.cuh writes every launch as
//   FTHOST_LAUNCH(grid, block, shared_bytes, stream, kernel)(arguments...)
// which nvcc turns into kernel<<<grid, block, shared_bytes, stream>>>(arguments...) and this
// emulation into launch(grid, block, shared_bytes, stream, "kernel", kernel)(arguments...).
//
// A launch runs the whole grid before it returns (every stream is synchronous here): the
// grid's blocks one after the other, in a scrambled order, each CUDA thread a fiber
// (src/execution.cpp).

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>

#include "fthost_cuda_emulation/emulation.hpp"
#include "fthost_cuda_emulation/runtime_api.hpp"

namespace fthost::cuda_emulation {

struct LaunchConfiguration {
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes = 0;  // dynamic shared memory
  cudaStream_t stream = nullptr;
  const char* kernel = "";  // the kernel as the launch names it, for diagnostics
};

// The runtime's launch checks (block and grid sizes, dynamic shared memory, the stream): a bad
// configuration is recorded for cudaGetLastError, and the kernel does not run.
bool accept_launch(const LaunchConfiguration& configuration);

// A pointer argument that no kernel may dereference (host memory) is a device fault.
void check_pointer_argument(const LaunchConfiguration& configuration, int index, const void* pointer);

// Runs thread_body once per CUDA thread of every block; returns when the grid is done.
void run_grid(const LaunchConfiguration& configuration, const std::function<void()>& thread_body);

template <typename... Parameters>
class KernelLaunch {
 public:
  KernelLaunch(const LaunchConfiguration& configuration, void (*kernel)(Parameters...))
      : configuration_(configuration), kernel_(kernel) {}

  // The arguments convert to the parameter types here, as at a <<<>>> launch; every CUDA thread
  // then gets its own copies.
  void operator()(Parameters... arguments) const {
    if (!accept_launch(configuration_)) return;
    int index = 0;
    (check_argument(index++, arguments), ...);
    const std::tuple<Parameters...> stored(arguments...);
    run_grid(configuration_, [&] { std::apply(kernel_, stored); });
  }

 private:
  template <typename T>
  void check_argument(int index, const T& argument) const {
    if constexpr (std::is_pointer_v<T>) check_pointer_argument(configuration_, index, argument);
  }

  LaunchConfiguration configuration_;
  void (*kernel_)(Parameters...);
};

template <typename... Parameters>
KernelLaunch<Parameters...> launch(dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
                                   const char* kernel_name, void (*kernel)(Parameters...)) {
  return KernelLaunch<Parameters...>(LaunchConfiguration{grid, block, shared_bytes, stream, kernel_name}, kernel);
}

}  // namespace fthost::cuda_emulation
