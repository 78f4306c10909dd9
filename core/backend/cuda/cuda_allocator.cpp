#include "backend/cuda/cuda_allocator.hpp"

#include <algorithm>

#include <cuda_runtime.h>

namespace fthost::backend::cuda {
namespace {

constexpr std::size_t kSmallLimit = std::size_t{1} << 20;
constexpr std::size_t kSmallRound = 512;
constexpr std::size_t kLargeRound = std::size_t{2} << 20;

// The device of the calling thread is the allocator's for the duration of a driver call.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cudaGetDevice(&previous_);
    if (previous_ != device) cudaSetDevice(device);
  }
  ~DeviceGuard() {
    int current = 0;
    cudaGetDevice(&current);
    if (current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace

CachingDeviceAllocator::CachingDeviceAllocator(int device) : device_(device) {}

CachingDeviceAllocator::~CachingDeviceAllocator() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
  // Live blocks at destruction belong to tensors that outlived their backend (a programming
  // error elsewhere); their memory goes back with the process.
}

std::size_t CachingDeviceAllocator::rounded_size(std::size_t bytes) {
  if (bytes == 0) return kSmallRound;
  const std::size_t unit = bytes < kSmallLimit ? kSmallRound : kLargeRound;
  return (bytes + unit - 1) / unit * unit;
}

void* CachingDeviceAllocator::allocate(std::size_t bytes) {
  const std::size_t size = rounded_size(bytes);
  std::lock_guard lock(mutex_);
  void* block = nullptr;
  std::size_t block_size = 0;
  // The smallest cached block that fits, if it wastes at most a quarter of itself (small blocks
  // are only reused at their exact size class: they are cheap to make).
  if (auto found = free_blocks_.lower_bound(size); found != free_blocks_.end()) {
    const bool fits = size < kSmallLimit ? found->first == size : found->first - size <= found->first / 4;
    if (fits) {
      block = found->second;
      block_size = found->first;
      free_blocks_.erase(found);
    }
  }
  if (block == nullptr) {
    DeviceGuard guard(device_);
    if (cudaMalloc(&block, size) != cudaSuccess) {
      cudaGetLastError();  // out of memory is not sticky; clear it before retrying
      release_cached_locked();
      if (cudaMalloc(&block, size) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
      }
    }
    block_size = size;
    stats_.reserved_bytes += size;
  }
  live_blocks_.emplace(block, block_size);
  stats_.current_bytes += block_size;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
  ++stats_.allocation_count;
  return block;
}

void CachingDeviceAllocator::deallocate(void* pointer, std::size_t /*bytes*/) noexcept {
  if (pointer == nullptr) return;
  std::lock_guard lock(mutex_);
  const auto live = live_blocks_.find(pointer);
  if (live == live_blocks_.end()) return;  // not ours: nothing safe to do
  stats_.current_bytes -= live->second;
  --stats_.allocation_count;
  free_blocks_.emplace(live->second, pointer);
  live_blocks_.erase(live);
}

MemoryStats CachingDeviceAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CachingDeviceAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
}

void CachingDeviceAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

void CachingDeviceAllocator::release_cached_locked() {
  if (free_blocks_.empty()) return;
  DeviceGuard guard(device_);
  // cudaFree waits for the device, so blocks still used by queued kernels are not pulled away.
  for (const auto& [size, block] : free_blocks_) {
    cudaFree(block);
    stats_.reserved_bytes -= size;
  }
  free_blocks_.clear();
}

}  // namespace fthost::backend::cuda
