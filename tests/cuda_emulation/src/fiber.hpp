#pragma once
// A fiber: a stack of its own and a saved register context, switched to and from by the host
// thread that runs a grid (execution.cpp runs every CUDA thread of a block as one). A switch is a
// few dozen instructions (x86-64: hand-written, fiber.cpp; elsewhere ucontext's swapcontext),
// where waking an OS thread per CUDA thread at every barrier costs microseconds.
//
// AddressSanitizer is told of every switch (__sanitizer_start/finish_switch_fiber), so that
// stack accesses keep being checked on fiber stacks; each stack ends in a guard page.

#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace fthost::cuda_emulation {

class Fiber {
 public:
  using Entry = void (*)(void* argument);

  // entry(argument) runs at the first resume(); it must never return (it suspends instead).
  Fiber(Entry entry, void* argument);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // On the scheduling host thread: runs this fiber until it calls suspend().
  void resume();
  // Inside this fiber: returns to the resume() that ran it.
  void suspend();

 private:
  static void start(Fiber* self);
#if !defined(__x86_64__)
  static void start_from_ucontext(unsigned high, unsigned low);
#endif

  Entry entry_;
  void* argument_;
  void* stack_ = nullptr;          // the mapping: guard page, then the stack
  std::size_t mapped_bytes_ = 0;
  const void* stack_bottom_ = nullptr;  // lowest usable address
  std::size_t stack_bytes_ = 0;
  // AddressSanitizer's bookkeeping: the fiber's and the scheduler's fake stacks and stack bounds.
  void* fake_stack_ = nullptr;
  void* scheduler_fake_stack_ = nullptr;
  const void* scheduler_bottom_ = nullptr;
  std::size_t scheduler_bytes_ = 0;
#if defined(__x86_64__)
  void* stack_pointer_ = nullptr;
  void* scheduler_stack_pointer_ = nullptr;
#else
  ucontext_t context_{};
  ucontext_t scheduler_context_{};
#endif
};

}  // namespace fthost::cuda_emulation
