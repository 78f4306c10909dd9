#pragma once
// What the parts of the emulated toolkit share (runtime, launches, cuBLAS, cub): the registry of
// device-accessible memory and the two ways a problem is reported. A misuse the real toolkit
// answers with an error code gets that code; what a GPU would answer with a fault, or silently
// wrong results (a kernel given a host pointer, a warp whose lanes disagree), is a "device
// fault": a diagnostic on stderr and abort(), so the test that caused it fails at the spot.

#include <cstddef>
#include <string>

#include "fthost_cuda_emulation/runtime_api.hpp"

namespace fthost::cuda_emulation {

// A pointer a kernel may dereference: inside (or one past) an allocation from cudaMalloc or
// cudaHostAlloc / cudaMallocHost (pinned memory is device-accessible under unified addressing).
bool is_device_accessible(const void* pointer);

// [pointer, pointer + bytes) lies inside one device-accessible allocation.
bool is_device_range(const void* pointer, std::size_t bytes);

// "0x... (byte 40 of a 512-byte device allocation)", "0x... (host memory)": for diagnostics.
std::string describe_pointer(const void* pointer);

bool is_valid_stream(cudaStream_t stream);

// Records `error` as the calling thread's last error (cudaGetLastError) and returns it.
cudaError_t record_error(cudaError_t error);

// Prints "fthost CUDA emulation: <message>" on stderr.
void report(const std::string& message);

// Prints "fthost CUDA emulation: device fault: <message>" on stderr and aborts.
[[noreturn]] void device_fault(const std::string& message);

}  // namespace fthost::cuda_emulation
