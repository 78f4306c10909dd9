#pragma once
// The CPU backend: the exact reference every other device is checked against. f32 tensors in host
// memory (64-byte aligned), GEMM through OpenBLAS, every other loop in plain C++ parallelised with
// OpenMP and vectorised (AVX-512 / AVX2 / baseline clones, cpu/cpu_loops.hpp). Results are
// bit-identical from run to run, and the loops' results do not depend on the thread count or the
// instruction set; GEMM's are OpenBLAS's (its kernels and blocking). The thread count is OpenMP's
// (OMP_NUM_THREADS, omp_set_num_threads) for the loops and OpenBLAS's (OPENBLAS_NUM_THREADS) for
// GEMM.

#include <memory>
#include <string>

#include "backend/backend.hpp"

namespace fthost::backend {

std::unique_ptr<Backend> make_cpu_backend();

// What the CPU backend runs on, for logs and start-up checks.
struct CpuBackendInfo {
  std::string blas;           // OpenBLAS's build line: "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... SkylakeX ..."
  std::string blas_kernels;   // the kernel family its run-time dispatch chose ("SkylakeX", "Haswell", ...)
  std::string loop_vectors;   // what the backend's own loops run: "avx512f", "avx2" or "baseline"
  int loop_threads = 0;       // OpenMP
  int blas_threads = 0;       // OpenBLAS
  // Empty when all is well; otherwise what is slow and how to fix it. OpenBLAS picks its kernels
  // from the CPU model when the library loads; a model newer than the OpenBLAS build (0.3.21 does
  // not know Sapphire/Emerald Rapids) falls back to the SSE3 "Prescott" kernels, ~6x slower here.
  std::string problem;
};
CpuBackendInfo describe_cpu_backend();

}  // namespace fthost::backend
