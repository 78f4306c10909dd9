#pragma once
// The backend the whole-model device tests run on (main.cpp picks it: the CUDA backend, or its
// CPU emulation in the emulated build) and the CPU reference beside it.

#include "backend/backend.hpp"

namespace fthost::testing {

backend::Backend& device_backend();
backend::Backend& reference_cpu_backend();

}  // namespace fthost::testing
