#pragma once
// The CUDA backend: the Backend interface on one NVIDIA GPU. Tensors live in device memory from a
// caching allocator (statistics as torch.cuda reports them); every op is queued on one stream and
// computes what the CPU backend computes (cuda/kernels.hpp), GEMMs through cuBLAS. Host code
// reaches device tensors only through upload/download, which synchronise. Compiled only with
// FTHOST_HAVE_CUDA.

#include <memory>
#include <string>

#include "backend/backend.hpp"

namespace fthost::backend {

// The GPU `device` (an index as `fthost hw` lists them). Throws std::runtime_error naming what
// was found when there is no such device or it cannot be used (no driver, no code for its
// architecture).
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

// Empty when make_cuda_backend(device) can succeed; otherwise why not, in one line
// ("no CUDA device: cudaErrorNoDevice: no CUDA-capable device is detected").
std::string cuda_backend_problem(int device = 0);

}  // namespace fthost::backend
