#pragma once
// Emulated cuda_runtime.h (tests/cuda_emulation): fthost's CUDA sources compile against it as
// plain C++ and run on the CPU. The host API is runtime_api.hpp, the device side device.hpp,
// kernel launches launch.hpp (reached through FTHOST_LAUNCH in backend/cuda/cuda_common.cuh).

#include "fthost_cuda_emulation/device.hpp"
#include "fthost_cuda_emulation/launch.hpp"
#include "fthost_cuda_emulation/runtime_api.hpp"
