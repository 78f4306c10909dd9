#pragma once
// Emulated cuda_runtime_api.h: the host API alone.
#include "fthost_cuda_emulation/runtime_api.hpp"
