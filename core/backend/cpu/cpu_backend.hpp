#pragma once
// The CPU backend: the exact reference every other device is checked against. f32 tensors in host
// memory (64-byte aligned), GEMM through OpenBLAS, every other loop in plain C++ parallelised with
// OpenMP. Results are bit-identical from run to run, and independent of the thread count except
// for GEMM, whose blocking OpenBLAS chooses. The thread count is OpenMP's (OMP_NUM_THREADS,
// omp_set_num_threads) for the loops and OpenBLAS's (OPENBLAS_NUM_THREADS) for GEMM.

#include <memory>

#include "backend/backend.hpp"

namespace fthost::backend {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace fthost::backend
