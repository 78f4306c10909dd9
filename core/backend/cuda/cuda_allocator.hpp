#pragma once
// Device memory for the CUDA backend: a caching allocator, as PyTorch's is, because cudaMalloc and
// cudaFree synchronise the device and cost tens of microseconds; a training step frees and
// re-requests the same sizes every step, so after the first step it runs from the cache.
//
// Blocks are rounded (512 bytes below 1 MiB, 2 MiB above) and kept on free lists by size when
// returned; a request takes the smallest cached block that fits and wastes at most a quarter of
// it. When cudaMalloc fails, every cached block is released and the request retried once.
// Statistics follow torch.cuda: current = bytes of blocks handed out (memory_allocated), peak
// (max_memory_allocated), reserved = bytes obtained from cudaMalloc, cached or not
// (memory_reserved).
//
// Reuse is safe without events because the backend queues all work on one stream: a block freed
// by the host after queueing kernels that use it is handed out again only to kernels queued later
// on that stream, which run after them.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "backend/allocator.hpp"

namespace fthost::backend::cuda {

class CachingDeviceAllocator final : public Allocator {
 public:
  explicit CachingDeviceAllocator(int device);
  ~CachingDeviceAllocator() override;
  CachingDeviceAllocator(const CachingDeviceAllocator&) = delete;
  CachingDeviceAllocator& operator=(const CachingDeviceAllocator&) = delete;

  void* allocate(std::size_t bytes) override;
  void deallocate(void* pointer, std::size_t bytes) noexcept override;
  MemoryStats stats() const override;
  void reset_peak() override;

  // Returns every cached (free) block to the driver (torch.cuda.empty_cache).
  void release_cached();

  static std::size_t rounded_size(std::size_t bytes);

 private:
  void release_cached_locked();

  int device_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_blocks_;       // size -> block
  std::unordered_map<void*, std::size_t> live_blocks_;  // block -> size
  MemoryStats stats_;
};

}  // namespace fthost::backend::cuda
