#pragma once
// Device memory with statistics. Every tensor's bytes come from an Allocator, so "how much memory
// does this run use" is answered by counting, not by asking the operating system:
//   current   bytes handed out and not yet returned (torch.cuda.memory_allocated)
//   peak      the highest `current` since the last reset_peak (torch.cuda.max_memory_allocated)
//   reserved  bytes the allocator holds from the system, handed out or cached (memory_reserved)
// Sizes are counted as the allocator holds them: the host allocator rounds each request up to a
// multiple of 64 bytes (a zero-byte request takes one 64-byte line).

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fthost::backend {

struct MemoryStats {
  std::uint64_t current_bytes = 0;
  std::uint64_t peak_bytes = 0;
  std::uint64_t reserved_bytes = 0;
  std::uint64_t allocation_count = 0;  // live allocations
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // At least `bytes` bytes aligned to 64 (a cache line, and an AVX-512 vector); nullptr on failure.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* pointer, std::size_t bytes) noexcept = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
};

// Host memory straight from the system allocator (aligned_alloc); reserved == current.
std::unique_ptr<Allocator> make_host_allocator();

}  // namespace fthost::backend
