// The device parity suite's entry point: picks the backend under test, then runs doctest.
//   FTHOST_PARITY_BACKEND=cuda (the default): the CUDA backend on GPU 0. Without a usable GPU, or
//     in a build without the CUDA backend (FTHOST_TEST_CUDA undefined), prints "SKIPPED: <why>"
//     and exits with 77 before any test runs, which ctest reports as Skipped, never as passed.
//   FTHOST_PARITY_BACKEND=cpu: a second CPU backend, so that the suite runs CPU against CPU and the
//     harness itself is exercised on machines without a GPU.
// doctest's own options (--test-case=..., --success) pass through.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "backend/cpu/cpu_backend.hpp"
#include "parity_support.hpp"

#if defined(FTHOST_TEST_CUDA)
#include "backend/cuda/cuda_backend.hpp"
#endif

namespace fthost::backend::parity {
namespace {

constexpr int kSkipped = 77;  // ctest's SKIP_RETURN_CODE for this test

using Factory = std::unique_ptr<Backend> (*)();
Factory device_factory = nullptr;
std::unique_ptr<Backend> device_instance;
std::unique_ptr<Backend> reference_instance;

#if defined(FTHOST_TEST_CUDA)
std::unique_ptr<Backend> make_cuda_device() { return make_cuda_backend(0); }
#endif

// The factory for FTHOST_PARITY_BACKEND's value, or null after printing why the suite cannot run
// (`exit_code` says whether that is a skip or a usage error).
Factory choose_device(const std::string& name, int& exit_code) {
  if (name == "cpu") return &make_cpu_backend;
  if (name != "cuda") {
    std::fprintf(stderr, "FTHOST_PARITY_BACKEND is \"%s\": expected \"cuda\" or \"cpu\"\n", name.c_str());
    exit_code = 2;
    return nullptr;
  }
#if defined(FTHOST_TEST_CUDA)
  const std::string problem = cuda_backend_problem(0);
  if (problem.empty()) return &make_cuda_device;
  std::printf("SKIPPED: the CUDA backend cannot run on GPU 0: %s\n", problem.c_str());
#else
  std::printf(
      "SKIPPED: this build has no CUDA backend (FTHOST_TEST_CUDA is not defined); "
      "FTHOST_PARITY_BACKEND=cpu runs the suite CPU against CPU\n");
#endif
  exit_code = kSkipped;
  return nullptr;
}

}  // namespace

Backend& device_backend() { return *device_instance; }
Backend& reference_backend() { return *reference_instance; }
std::unique_ptr<Backend> make_device_backend() { return device_factory(); }

}  // namespace fthost::backend::parity

int main(int argc, char** argv) {
  namespace parity = fthost::backend::parity;
  const char* variable = std::getenv("FTHOST_PARITY_BACKEND");
  const std::string name = variable != nullptr && *variable != '\0' ? variable : "cuda";
  int exit_code = 0;
  parity::device_factory = parity::choose_device(name, exit_code);
  if (parity::device_factory == nullptr) return exit_code;
  try {
    parity::device_instance = parity::device_factory();
    parity::reference_instance = fthost::backend::make_cpu_backend();
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "FAIL: cannot create the %s backend: %s\n", name.c_str(), failure.what());
    return 1;
  }
  std::printf("device parity: the %s backend (%s) against the CPU backend\n", name.c_str(),
              fthost::backend::to_string(parity::device_instance->device()).c_str());

  doctest::Context context(argc, argv);
  const int result = context.run();
  // Tensors are gone with the tests; the backends go before static destruction (a GPU runtime
  // may already be shutting down by then).
  parity::device_instance.reset();
  parity::reference_instance.reset();
  return result;
}
