// The host allocator: 64-byte aligned blocks from the C library, counted with atomics so that
// tensors may be created and freed from several threads.

#include "backend/allocator.hpp"

#include <atomic>
#include <cstdlib>

namespace fthost::backend {
namespace {

constexpr std::size_t kAlignment = 64;

// aligned_alloc wants a size that is a multiple of the alignment; an empty tensor still gets one
// line so that every storage has a distinct, non-null address.
std::size_t rounded_size(std::size_t bytes) {
  if (bytes == 0) return kAlignment;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

class HostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    if (bytes > SIZE_MAX - kAlignment) return nullptr;
    const std::size_t size = rounded_size(bytes);
    void* pointer = std::aligned_alloc(kAlignment, size);
    if (pointer == nullptr) return nullptr;
    const std::uint64_t now = current_.fetch_add(size, std::memory_order_relaxed) + size;
    allocations_.fetch_add(1, std::memory_order_relaxed);
    raise_peak(now);
    return pointer;
  }

  void deallocate(void* pointer, std::size_t bytes) noexcept override {
    if (pointer == nullptr) return;
    std::free(pointer);
    current_.fetch_sub(rounded_size(bytes), std::memory_order_relaxed);
    allocations_.fetch_sub(1, std::memory_order_relaxed);
  }

  MemoryStats stats() const override {
    MemoryStats stats;
    stats.current_bytes = current_.load(std::memory_order_relaxed);
    stats.peak_bytes = peak_.load(std::memory_order_relaxed);
    stats.reserved_bytes = stats.current_bytes;
    stats.allocation_count = allocations_.load(std::memory_order_relaxed);
    return stats;
  }

  void reset_peak() override { peak_.store(current_.load(std::memory_order_relaxed), std::memory_order_relaxed); }

 private:
  void raise_peak(std::uint64_t candidate) {
    std::uint64_t seen = peak_.load(std::memory_order_relaxed);
    while (candidate > seen && !peak_.compare_exchange_weak(seen, candidate, std::memory_order_relaxed)) {
    }
  }

  std::atomic<std::uint64_t> current_{0};
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<std::uint64_t> allocations_{0};
};

}  // namespace

std::unique_ptr<Allocator> make_host_allocator() { return std::make_unique<HostAllocator>(); }

}  // namespace fthost::backend
