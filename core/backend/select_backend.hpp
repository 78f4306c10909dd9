#pragma once
// Which device a run uses (the pipeline's model.backend, the CLI's --backend): "cpu", "cuda" (the
// first visible GPU; CUDA_VISIBLE_DEVICES picks which), or "auto" = that GPU when this build has
// the CUDA backend and the GPU can run it, the CPU otherwise. Resolving never throws: a request that cannot be met comes back with
// `problem` saying what was found.

#include <memory>
#include <string>
#include <string_view>

#include "backend/backend.hpp"
#include "fthost/sdk/context.hpp"

namespace fthost::backend {

struct BackendResolution {
  sdk::BackendKind kind = sdk::BackendKind::cpu;
  int device = 0;  // the CUDA device index (0: the first visible GPU)
  std::string description;  // "cpu", "cuda:0 (NVIDIA H100 80GB HBM3)"
  std::string problem;      // empty when the request can be met
};

BackendResolution resolve_backend(std::string_view requested);

// Whether this build carries the CUDA backend.
bool cuda_backend_built();

// A new backend for a resolution without a problem (throws std::runtime_error if the device
// fails to start).
std::unique_ptr<Backend> make_backend(const BackendResolution& resolution);

// The backend of a resolution without a problem, shared: one per device for the process's lifetime:
// tensors and loaded models refer to their backend, so it outlives them all.
Backend& shared_backend(const BackendResolution& resolution);

}  // namespace fthost::backend
