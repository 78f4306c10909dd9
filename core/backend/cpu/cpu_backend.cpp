// The CPU backend's construction. The ops live in cpu_*.cpp, one file per concern.

#include "backend/cpu/cpu_backend.hpp"

#include "backend/cpu/cpu_backend_impl.hpp"

namespace fthost::backend {

namespace cpu {
CpuBackend::CpuBackend() : allocator_(make_host_allocator()) {}
}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<cpu::CpuBackend>(); }

}  // namespace fthost::backend
