#pragma once
// The CPU backend: the exact reference every other device is checked against. f32 tensors in host
// memory (64-byte aligned), GEMM through oneDNN (cpu/cpu_gemm.cpp says why), every other loop in
// plain C++ parallelised with OpenMP and vectorised (AVX-512 / AVX2 / baseline clones,
// cpu/cpu_loops.hpp). Results are bit-identical from run to run, and the loops' results do not
// depend on the thread count or the instruction set; GEMM's follow oneDNN's kernels and blocking
// for the thread count. One thread count for both: OpenMP's (OMP_NUM_THREADS, omp_set_num_threads).

#include <memory>
#include <string>

#include "backend/backend.hpp"

namespace fthost::backend {

std::unique_ptr<Backend> make_cpu_backend();

// What the CPU backend runs on, for logs and start-up checks.
struct CpuBackendInfo {
  std::string gemm_library;   // "oneDNN 2.6.3"
  std::string gemm_isa;       // the instruction set oneDNN's JIT kernels use: "avx512_core_amx", "avx2", ...
  std::string loop_vectors;   // what the backend's own loops run: "avx512f", "avx2" or "baseline"
  int loop_threads = 0;       // OpenMP's, shared by the loops and oneDNN
  // Empty when all is well; otherwise what is slow and how to fix it.
  std::string problem;
};
CpuBackendInfo describe_cpu_backend();

}  // namespace fthost::backend
