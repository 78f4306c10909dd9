// Emulated kernel execution. Every CUDA thread of a block is a fiber (fiber.hpp) with a stack of
// its own; the host thread that launches the grid schedules them. (An OS thread per CUDA thread,
// woken at every barrier, spent minutes of context switches on the parity suite; a fiber switch
// costs nanoseconds, and the schedule is deterministic, so faults are exact and repeatable.)
// A fiber runs until it reaches __syncthreads, a warp collective (shuffle, vote, __syncwarp) or
// the end of the kernel; when every thread of the block (or of the warp) that has not returned
// waits at the same barrier, they are released. Whatever ordering a barrier does not guarantee
// is varied: the order of threads within a block and the way released warps interleave change
// from block to block (run_block), and the grid's blocks run one at a time in a scrambled order
// that changes from launch to launch (a GPU runs blocks in any order). A kernel that reads what
// another thread wrote without a barrier, or overwrites what another has yet to read, or depends
// on block order, shows it as a parity or repeatability failure.
//
// Device faults (emulation.hpp), exact because scheduling is: a deadlock (threads waiting at
// different barriers, e.g. a __syncthreads inside a branch), named thread by thread; a warp
// collective whose lanes are at different calls (divergence) or that reads a lane that has
// returned; a mask that leaves out lanes (not emulated).
//
// One grid runs at a time (static __shared__ variables are one object per kernel, device.hpp).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "fiber.hpp"
#include "fthost_cuda_emulation/device.hpp"
#include "fthost_cuda_emulation/emulation.hpp"
#include "fthost_cuda_emulation/launch.hpp"

namespace fthost::cuda_emulation {
namespace {

constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr std::size_t kMaxDynamicSharedBytes = 48 * 1024;  // without cudaFuncSetAttribute opt-in
constexpr std::size_t kSharedAlignment = 128;

enum class Where { ready, block_barrier, warp_collective, returned };

const char* describe(Where where) {
  switch (where) {
    case Where::ready: return "ready";
    case Where::block_barrier: return "at __syncthreads";
    case Where::warp_collective: return "at a warp shuffle, vote or __syncwarp";
    case Where::returned: return "returned from the kernel";
  }
  return "?";
}

// One lane's part of a warp collective. `tag` names the collective: (block serial << 32) |
// (the lane's collective count << 1) | is_syncwarp, so lanes at different calls disagree.
struct Slot {
  std::uint64_t bits = 0;
  std::uint64_t tag = 0;
};

struct Grid;

// One CUDA thread: its fiber and where it is.
struct CudaThread {
  Grid* grid = nullptr;
  std::unique_ptr<Fiber> fiber;
  unsigned linear = 0;  // threadIdx flattened, x fastest: warps are consecutive runs of 32
  uint3 index{0, 0, 0};
  Where where = Where::returned;
  unsigned parity = 0;  // which of the two slot buffers the next collective writes
  std::uint64_t collectives = 0;
  unsigned warp() const { return linear / kWarpSize; }
  unsigned lane() const { return linear % kWarpSize; }
};

struct AlignedDelete {
  void operator()(std::byte* memory) const { ::operator delete[](memory, std::align_val_t{kSharedAlignment}); }
};

// The grid being run.
struct Grid {
  LaunchConfiguration configuration;
  const std::function<void()>* body = nullptr;
  unsigned threads = 0;
  std::uint64_t blocks = 0;
  std::uint64_t block_serial = 0;  // counts blocks run, in all grids
  std::unique_ptr<std::byte[], AlignedDelete> dynamic_shared;
  std::vector<std::unique_ptr<CudaThread>> pool;  // grown to the largest block seen; [0, threads) run
  std::array<std::array<Slot, kMaxThreadsPerBlock>, 2> slots;  // double-buffered: a lane may be one call ahead

  unsigned lanes_of_warp(unsigned warp) const { return std::min(kWarpSize, threads - warp * kWarpSize); }
};

// The CUDA thread running on this host thread, if any (initial-exec: no __tls_get_addr call).
thread_local CudaThread* current __attribute__((tls_model("initial-exec"))) = nullptr;

CudaThread& current_thread(const char* what) {
  if (current == nullptr) device_fault(std::string(what) + " called outside a kernel");
  return *current;
}

std::string thread_name(const CudaThread& thread) {
  std::ostringstream name;
  name << "thread (" << thread.index.x << "," << thread.index.y << "," << thread.index.z << ") [warp "
       << thread.warp() << " lane " << thread.lane() << "]";
  return name.str();
}

std::string block_name(const Grid& grid) {
  std::ostringstream name;
  name << "kernel " << grid.configuration.kernel << ", block (" << blockIdx.x << "," << blockIdx.y << ","
       << blockIdx.z << ")";
  return name.str();
}

[[noreturn]] void kernel_fault(const CudaThread& self, const std::string& message) {
  device_fault(block_name(*self.grid) + ", " + thread_name(self) + ": " + message);
}

// Every fiber runs this: the kernel for each block it is scheduled in, forever.
void fiber_main(void* argument) {
  auto& self = *static_cast<CudaThread*>(argument);
  for (;;) {
    (*self.grid->body)();
    self.where = Where::returned;
    self.fiber->suspend();
  }
}

// Waits (suspends) until the scheduler releases this thread from `where`.
void wait_at(CudaThread& self, Where where) {
  self.where = where;
  self.fiber->suspend();
}

// Collectives are emulated for whole warps only: every lane the block has in this warp.
void check_mask(const CudaThread& self, unsigned mask, const char* intrinsic) {
  const unsigned lanes = self.grid->lanes_of_warp(self.warp());
  const unsigned all = lanes == kWarpSize ? 0xFFFFFFFFu : (1u << lanes) - 1;
  if ((mask & all) == all) return;
  std::ostringstream text;
  text << intrinsic << " with mask 0x" << std::hex << mask << ": the emulation runs only whole-warp collectives (0x"
       << all << " for this warp)";
  kernel_fault(self, text.str());
}

std::uint64_t collective_tag(const Grid& grid, std::uint64_t count, bool syncwarp) {
  return (grid.block_serial << 32) | (count << 1) | (syncwarp ? 1u : 0u);
}

// Writes this lane's slot, waits for the warp, and returns the buffer the warp wrote.
const std::array<Slot, kMaxThreadsPerBlock>& meet_warp(CudaThread& self, std::uint64_t bits, bool syncwarp) {
  Grid& grid = *self.grid;
  auto& buffer = grid.slots[self.parity];
  self.parity ^= 1;
  buffer[self.linear] = Slot{bits, collective_tag(grid, ++self.collectives, syncwarp)};
  wait_at(self, Where::warp_collective);
  return buffer;
}

// The slot lane `source` wrote for the collective just met, or a fault. With `absent_ok`, a
// lane that has returned reads as null (votes count it as false) instead.
const Slot* slot_of(const CudaThread& self, const std::array<Slot, kMaxThreadsPerBlock>& buffer, unsigned source,
                    const char* intrinsic, bool absent_ok) {
  const Grid& grid = *self.grid;
  const Slot& slot = buffer[source];
  if (slot.tag == collective_tag(grid, self.collectives, false)) return &slot;
  const CudaThread& other = *grid.pool[source];
  if (other.where == Where::returned && other.collectives < self.collectives) {
    if (absent_ok) return nullptr;
    kernel_fault(self, std::string(intrinsic) + " reads " + thread_name(other) +
                           ", which has returned from the kernel: the value is undefined");
  }
  kernel_fault(self, std::string(intrinsic) + ": warp divergence: " + thread_name(other) +
                         " is at another warp collective (this lane's call " + std::to_string(self.collectives) +
                         ", that lane's " + std::to_string(other.collectives) + ")");
}

class Executor {
 public:
  static Executor& instance() {
    static Executor executor;
    return executor;
  }

  void run(const LaunchConfiguration& configuration, const std::function<void()>& body) {
    std::lock_guard lock(mutex_);
    Grid& grid = grid_;
    const dim3 block = configuration.block, grid_size = configuration.grid;
    grid.configuration = configuration;
    grid.body = &body;
    grid.threads = block.x * block.y * block.z;
    grid.blocks = std::uint64_t{grid_size.x} * grid_size.y * grid_size.z;
    while (grid.pool.size() < grid.threads) {
      auto thread = std::make_unique<CudaThread>();
      thread->grid = &grid;
      thread->fiber = std::make_unique<Fiber>(&fiber_main, thread.get());
      grid.pool.push_back(std::move(thread));
    }
    for (unsigned t = 0; t < grid.threads; ++t) {
      CudaThread& thread = *grid.pool[t];
      thread.linear = t;
      thread.index = uint3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
    }
    if (configuration.shared_bytes != 0) {
      grid.dynamic_shared.reset(static_cast<std::byte*>(
          ::operator new[](configuration.shared_bytes, std::align_val_t{kSharedAlignment})));
    }
    const dim3 host_block_dim = blockDim, host_grid_dim = gridDim;
    const uint3 host_block_index = blockIdx, host_thread_index = threadIdx;
    blockDim = block;
    gridDim = grid_size;
    const BlockOrder order = block_order(grid.blocks);
    for (std::uint64_t i = 0; i < grid.blocks; ++i) {
      const std::uint64_t b = (i * order.step + order.offset) % grid.blocks;
      blockIdx = uint3{static_cast<unsigned>(b % grid_size.x), static_cast<unsigned>(b / grid_size.x % grid_size.y),
                       static_cast<unsigned>(b / (std::uint64_t{grid_size.x} * grid_size.y))};
      run_block(grid);
    }
    blockDim = host_block_dim;
    gridDim = host_grid_dim;
    blockIdx = host_block_index;
    threadIdx = host_thread_index;
    grid.dynamic_shared.reset();
    grid.body = nullptr;
  }

 private:
  struct BlockOrder {
    std::uint64_t step = 1;  // block i of the run is block (i * step + offset) % blocks
    std::uint64_t offset = 0;
  };

  // A permutation (step coprime with the block count) that changes from launch to launch.
  // FTHOST_CUDA_EMULATION_BLOCK_ORDER=linear runs blocks in index order, for debugging.
  BlockOrder block_order(std::uint64_t blocks) {
    static const bool linear = [] {
      const char* order = std::getenv("FTHOST_CUDA_EMULATION_BLOCK_ORDER");
      return order != nullptr && std::strcmp(order, "linear") == 0;
    }();
    ++launches_;
    BlockOrder order;
    if (linear || blocks < 3 || blocks > (std::uint64_t{1} << 31)) return order;
    std::uint64_t step = blocks * 5 / 8 + 1;
    while (std::gcd(step, blocks) != 1) ++step;
    order.step = step % blocks;
    order.offset = launches_ * 7919 % blocks;
    return order;
  }

  // Runs the block's threads from a queue: each runs until it waits or returns; the thread that
  // completes a barrier releases its waiters into the queue. Two policies alternate with the
  // blocks, each exposing another kind of missing barrier: breadth-first (released threads queue
  // behind the others, so every thread reaches its next wait before any goes further) and
  // warp-first (a released warp runs again at once, racing ahead of the other warps). Thread
  // order within the block alternates between ascending and descending.
  void run_block(Grid& grid) {
    ++grid.block_serial;
    // Dynamic shared memory starts as garbage (0xFF bytes, an f32 NaN) in every block.
    if (grid.configuration.shared_bytes != 0) std::memset(grid.dynamic_shared.get(), 0xFF, grid.configuration.shared_bytes);
    descending_ = grid.block_serial % 2 == 0;
    warp_first_ = grid.block_serial % 4 >= 2;
    queue_.clear();
    for (unsigned k = 0; k < grid.threads; ++k) {
      const unsigned t = descending_ ? grid.threads - 1 - k : k;
      CudaThread& thread = *grid.pool[t];
      thread.where = Where::ready;
      thread.parity = 0;
      thread.collectives = 0;
      queue_.push_back(t);
    }
    const unsigned warps = (grid.threads + kWarpSize - 1) / kWarpSize;
    live_ = grid.threads;
    at_block_barrier_ = 0;
    for (unsigned w = 0; w < warps; ++w) {
      warp_live_[w] = grid.lanes_of_warp(w);
      warp_waiting_[w] = 0;
    }
    while (!queue_.empty()) {
      CudaThread& thread = *grid.pool[queue_.front()];
      queue_.pop_front();
      current = &thread;
      threadIdx = thread.index;
      thread.fiber->resume();
      current = nullptr;
      account(grid, thread);
    }
    if (live_ != 0) report_deadlock(grid);
  }

  // Counts where `thread` stopped; releases the warp's or the block's barrier it completed.
  void account(Grid& grid, const CudaThread& thread) {
    const unsigned warp = thread.warp();
    switch (thread.where) {
      case Where::returned:
        --live_;
        --warp_live_[warp];
        break;
      case Where::block_barrier:
        ++at_block_barrier_;
        break;
      case Where::warp_collective:
        ++warp_waiting_[warp];
        break;
      case Where::ready:
        break;
    }
    if (warp_waiting_[warp] != 0 && warp_waiting_[warp] == warp_live_[warp]) {
      release(grid, warp * kWarpSize, std::min(grid.threads, (warp + 1) * kWarpSize), Where::warp_collective,
              warp_first_);
      warp_waiting_[warp] = 0;
    }
    if (at_block_barrier_ != 0 && at_block_barrier_ == live_) {
      release(grid, 0, grid.threads, Where::block_barrier, false);
      at_block_barrier_ = 0;
    }
  }

  // Queues the threads of [first, end) that wait at `from`, in the block's thread order: at the
  // back, or at the front (`to_front`).
  void release(Grid& grid, unsigned first, unsigned end, Where from, bool to_front) {
    const bool backwards = descending_ != to_front;  // push_front reverses
    for (unsigned k = first; k < end; ++k) {
      const unsigned t = backwards ? end - 1 - (k - first) : k;
      CudaThread& thread = *grid.pool[t];
      if (thread.where != from) continue;
      thread.where = Where::ready;
      if (to_front) {
        queue_.push_front(t);
      } else {
        queue_.push_back(t);
      }
    }
  }

  [[noreturn]] static void report_deadlock(const Grid& grid) {
    std::ostringstream text;
    text << block_name(grid) << ": deadlock: threads wait at barriers that the others never reach (a __syncthreads "
         << "or warp collective in a branch?):";
    for (Where where : {Where::block_barrier, Where::warp_collective, Where::returned}) {
      unsigned count = 0;
      std::string examples;
      for (unsigned t = 0; t < grid.threads; ++t) {
        if (grid.pool[t]->where != where) continue;
        if (count++ < 4) examples += "\n    " + thread_name(*grid.pool[t]);
      }
      if (count != 0) text << "\n  " << count << " threads " << describe(where) << ", e.g." << examples;
    }
    device_fault(text.str());
  }

  std::mutex mutex_;  // one grid at a time
  Grid grid_;
  std::uint64_t launches_ = 0;
  // The running block's schedule: the threads that may run, the policy, and the counts that say
  // when a barrier is complete (live = not returned).
  std::deque<unsigned> queue_;
  bool descending_ = false;
  bool warp_first_ = false;
  unsigned live_ = 0;
  unsigned at_block_barrier_ = 0;
  std::array<unsigned, kMaxThreadsPerBlock / kWarpSize> warp_live_{};
  std::array<unsigned, kMaxThreadsPerBlock / kWarpSize> warp_waiting_{};
};

}  // namespace

// ---- launches ----

bool accept_launch(const LaunchConfiguration& configuration) {
  const dim3 block = configuration.block, grid = configuration.grid;
  const bool block_ok = block.x >= 1 && block.y >= 1 && block.z >= 1 && block.x <= 1024 && block.y <= 1024 &&
                        block.z <= 64 && std::uint64_t{block.x} * block.y * block.z <= kMaxThreadsPerBlock;
  const bool grid_ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7FFFFFFFu && grid.y <= 65535 &&
                       grid.z <= 65535;
  if (!block_ok || !grid_ok) {
    std::ostringstream text;
    text << "launch of " << configuration.kernel << " refused: grid (" << grid.x << "," << grid.y << "," << grid.z
         << "), block (" << block.x << "," << block.y << "," << block.z << ")";
    report(text.str());
    record_error(cudaErrorInvalidConfiguration);
    return false;
  }
  if (configuration.shared_bytes > kMaxDynamicSharedBytes) {
    report("launch of " + std::string(configuration.kernel) + " refused: " +
           std::to_string(configuration.shared_bytes) + " bytes of dynamic shared memory (at most 48 KiB)");
    record_error(cudaErrorInvalidValue);
    return false;
  }
  if (!is_valid_stream(configuration.stream)) {
    report("launch of " + std::string(configuration.kernel) + " refused: the stream is not a live stream");
    record_error(cudaErrorInvalidResourceHandle);
    return false;
  }
  if (current != nullptr) {
    device_fault("launch of " + std::string(configuration.kernel) + " from a kernel (dynamic parallelism)");
  }
  return true;
}

void check_pointer_argument(const LaunchConfiguration& configuration, int index, const void* pointer) {
  if (pointer == nullptr || is_device_accessible(pointer)) return;
  device_fault("kernel " + std::string(configuration.kernel) + " argument " + std::to_string(index) + " is " +
               describe_pointer(pointer) + ", which a GPU cannot dereference");
}

void run_grid(const LaunchConfiguration& configuration, const std::function<void()>& thread_body) {
  Executor::instance().run(configuration, thread_body);
}

// ---- what device.hpp declares ----

void synchronize_block() { wait_at(current_thread("__syncthreads"), Where::block_barrier); }

void synchronize_warp(unsigned mask) {
  CudaThread& self = current_thread("__syncwarp");
  check_mask(self, mask, "__syncwarp");
  meet_warp(self, 0, true);
}

std::uint64_t exchange_in_warp(unsigned mask, std::uint64_t bits, unsigned source_lane, const char* intrinsic) {
  CudaThread& self = current_thread(intrinsic);
  check_mask(self, mask, intrinsic);
  const auto& buffer = meet_warp(self, bits, false);
  const unsigned source = self.warp() * kWarpSize + source_lane;
  if (source_lane >= kWarpSize || source >= self.grid->threads) {
    kernel_fault(self, std::string(intrinsic) + " reads lane " + std::to_string(source_lane) +
                           ", which this warp does not have");
  }
  return slot_of(self, buffer, source, intrinsic, false)->bits;
}

unsigned ballot_in_warp(unsigned mask, bool predicate, const char* intrinsic) {
  CudaThread& self = current_thread(intrinsic);
  check_mask(self, mask, intrinsic);
  const auto& buffer = meet_warp(self, predicate ? 1 : 0, false);
  unsigned ballot = 0;
  const unsigned first = self.warp() * kWarpSize, lanes = self.grid->lanes_of_warp(self.warp());
  for (unsigned lane = 0; lane < lanes; ++lane) {
    const Slot* slot = slot_of(self, buffer, first + lane, intrinsic, true);
    if (slot != nullptr && slot->bits != 0 && (mask >> lane & 1u) != 0) ballot |= 1u << lane;
  }
  return ballot;
}

unsigned lane_id() { return current_thread("a warp intrinsic").lane(); }

unsigned checked_shuffle_width(int width, const char* intrinsic) {
  if (width < 1 || width > static_cast<int>(kWarpSize) || (width & (width - 1)) != 0) {
    kernel_fault(current_thread(intrinsic),
                 std::string(intrinsic) + " with width " + std::to_string(width) + ": must be a power of two <= 32");
  }
  return static_cast<unsigned>(width);
}

void* dynamic_shared_memory() { return current_thread("FTHOST_DYNAMIC_SHARED").grid->dynamic_shared.get(); }

}  // namespace fthost::cuda_emulation
