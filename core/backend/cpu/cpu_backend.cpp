// The CPU backend's construction and self-description. The ops live in cpu_*.cpp, one file per
// concern.

#include "backend/cpu/cpu_backend.hpp"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <string>

#include "backend/cpu/cpu_backend_impl.hpp"

namespace fthost::backend {

namespace cpu {
CpuBackend::CpuBackend() : allocator_(make_host_allocator()) {}
}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<cpu::CpuBackend>(); }

namespace {

std::string describe_isa(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "isa " + std::to_string(static_cast<unsigned>(isa));
  }
}

}  // namespace

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
  const dnnl_version_t* version = dnnl_version();
  info.gemm_library = "oneDNN " + std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                      std::to_string(version->patch);
  info.gemm_isa = describe_isa(dnnl_get_effective_cpu_isa());
  if ((avx512 || avx2) && info.gemm_isa == "sse41") {
    info.problem = "oneDNN runs GEMM with SSE4.1 kernels on a CPU with " + std::string(avx512 ? "AVX-512" : "AVX2") +
                   ": is ONEDNN_MAX_CPU_ISA set in the environment?";
  }
  return info;
}

}  // namespace fthost::backend
