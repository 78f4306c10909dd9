// Whole-model checks of a device backend against PyTorch's recorded numbers and the CPU backend.
// Without a usable device the program prints why and exits 77, which ctest reports as skipped.
// FTHOST_DEVICE_MODEL_BACKEND=cpu runs the checks with the CPU backend as the device: a
// self-check of the tests (and their tolerances) on machines without a GPU.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "backend/cpu/cpu_backend.hpp"
#include "device_model_support.hpp"
#ifdef FTHOST_TEST_CUDA
#include "backend/cuda/cuda_backend.hpp"
#endif

namespace {
std::unique_ptr<fthost::backend::Backend> device;
std::unique_ptr<fthost::backend::Backend> cpu;
}  // namespace

namespace fthost::testing {
backend::Backend& device_backend() { return *device; }
backend::Backend& reference_cpu_backend() { return *cpu; }
}  // namespace fthost::testing

int main(int argc, char** argv) {
  const char* requested = std::getenv("FTHOST_DEVICE_MODEL_BACKEND");
  if (requested != nullptr && std::string(requested) == "cpu") {
    device = fthost::backend::make_cpu_backend();
  } else {
#ifdef FTHOST_TEST_CUDA
    const std::string problem = fthost::backend::cuda_backend_problem(0);
    if (!problem.empty()) {
      std::printf("SKIPPED: %s\n", problem.c_str());
      return 77;
    }
    device = fthost::backend::make_cuda_backend(0);
#else
    std::printf("SKIPPED: this build has no CUDA backend\n");
    return 77;
#endif
  }
  cpu = fthost::backend::make_cpu_backend();
  doctest::Context context(argc, argv);
  const int status = context.run();
  device.reset();
  cpu.reset();
  return status;
}
