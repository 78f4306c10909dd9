// The CPU backend's construction and self-description. The ops live in cpu_*.cpp, one file per
// concern.

#include "backend/cpu/cpu_backend.hpp"

#include <cblas.h>
#include <omp.h>

#include <array>
#include <string_view>

#include "backend/cpu/cpu_backend_impl.hpp"

namespace fthost::backend {

namespace cpu {
CpuBackend::CpuBackend() : allocator_(make_host_allocator()) {}
}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<cpu::CpuBackend>(); }

CpuBackendInfo describe_cpu_backend() {
  CpuBackendInfo info;
  info.loop_threads = omp_get_max_threads();
#if defined(__x86_64__) && defined(__GNUC__)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  info.loop_vectors = __builtin_cpu_supports("avx512f") ? "avx512f" : __builtin_cpu_supports("avx2") ? "avx2" : "baseline";
#else
  const bool avx512 = false, avx2 = false;
  info.loop_vectors = "baseline";
#endif
#ifdef OPENBLAS_VERSION
  info.blas = openblas_get_config();
  info.blas_kernels = openblas_get_corename();
  info.blas_threads = openblas_get_num_threads();
  // OpenBLAS kernel families without AVX2 (its fallbacks when it does not recognise a CPU).
  constexpr std::array<std::string_view, 9> kPreAvx2 = {"Prescott", "Core2",   "Penryn",     "Dunnington", "Nehalem",
                                                        "Atom",     "Katmai", "Sandybridge", "Unknown"};
  bool generic = false;
  for (std::string_view name : kPreAvx2) generic = generic || info.blas_kernels == name;
  if (generic && (avx512 || avx2)) {
    const char* suggestion = avx512 ? "SkylakeX" : "Haswell";
    info.problem = "OpenBLAS chose its " + info.blas_kernels + " kernels on a CPU with " +
                   (avx512 ? "AVX-512" : "AVX2") +
                   " (this OpenBLAS build does not recognise the CPU model), so GEMM runs several times slower "
                   "than it could: set OPENBLAS_CORETYPE=" +
                   suggestion + " in the environment before starting fthost";
  }
#else
  info.blas = "a CBLAS other than OpenBLAS";
  info.blas_kernels = "unknown";
  (void)avx512;
  (void)avx2;
#endif
  return info;
}

}  // namespace fthost::backend
