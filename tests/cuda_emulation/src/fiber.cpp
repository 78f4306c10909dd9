// Fibers for the emulated CUDA threads (fiber.hpp).

#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define FTHOST_EMULATION_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FTHOST_EMULATION_ASAN 1
#endif
#endif
#if defined(FTHOST_EMULATION_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__)
// fthost_emulation_switch(save, load): pushes the callee-saved registers and the SSE and x87
// control words, stores the stack pointer in *save, loads `load` and pops the same from there.
// A new fiber's stack is laid out as if it had switched away, "returning" into the trampoline,
// which calls r13(r12), i.e. Fiber::start(fiber).
extern "C" void fthost_emulation_switch(void** save_stack_pointer, void* load_stack_pointer);
extern "C" void fthost_emulation_fiber_trampoline();
asm(R"(
  .text
  .p2align 4
  .globl fthost_emulation_switch
  .hidden fthost_emulation_switch
  .type fthost_emulation_switch, @function
fthost_emulation_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  fnstcw (%rsp)
  stmxcsr 8(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  fldcw (%rsp)
  ldmxcsr 8(%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fthost_emulation_switch, .-fthost_emulation_switch

  .p2align 4
  .globl fthost_emulation_fiber_trampoline
  .hidden fthost_emulation_fiber_trampoline
  .type fthost_emulation_fiber_trampoline, @function
fthost_emulation_fiber_trampoline:
  movq %r12, %rdi
  andq $-16, %rsp
  call *%r13
  ud2
  .size fthost_emulation_fiber_trampoline, .-fthost_emulation_fiber_trampoline
)");
#endif

namespace fthost::cuda_emulation {
namespace {

// Kernels keep a few values per thread; AddressSanitizer's redzones and libm need more.
constexpr std::size_t kStackBytes = 512 * 1024;

void start_switch(void** fake_stack_save, const void* bottom, std::size_t bytes) {
#if defined(FTHOST_EMULATION_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, bytes);
#else
  (void)fake_stack_save;
  (void)bottom;
  (void)bytes;
#endif
}

void finish_switch(void* fake_stack_save, const void** bottom_old, std::size_t* bytes_old) {
#if defined(FTHOST_EMULATION_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, bytes_old);
#else
  (void)fake_stack_save;
  (void)bottom_old;
  (void)bytes_old;
#endif
}

}  // namespace

Fiber::Fiber(Entry entry, void* argument) : entry_(entry), argument_(argument) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  mapped_bytes_ = kStackBytes + page;
  stack_ = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stack_ == MAP_FAILED) throw std::bad_alloc();
  mprotect(stack_, page, PROT_NONE);  // an overflow faults instead of writing over another stack
  stack_bottom_ = static_cast<const char*>(stack_) + page;
  stack_bytes_ = kStackBytes;
#if defined(__x86_64__)
  // Stacks are page-aligned and the same size, so their tops would all fall in the same cache
  // sets; starting each at another multiple of 64 bytes below its top spreads them.
  static unsigned fibers_made = 0;
  const std::uintptr_t color = (fibers_made++ % 61) * 64;
  const std::uintptr_t top =
      (reinterpret_cast<std::uintptr_t>(stack_bottom_) + stack_bytes_ - color) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 80);
  frame[0] = 0x037F;  // x87 control word: the default
  frame[1] = 0x1F80;  // MXCSR: the default (round to nearest, exceptions masked)
  frame[2] = 0;       // r15
  frame[3] = 0;       // r14
  frame[4] = reinterpret_cast<std::uint64_t>(&Fiber::start);  // r13
  frame[5] = reinterpret_cast<std::uint64_t>(this);           // r12
  frame[6] = 0;       // rbx
  frame[7] = 0;       // rbp
  frame[8] = reinterpret_cast<std::uint64_t>(&fthost_emulation_fiber_trampoline);  // return address
  frame[9] = 0;
  stack_pointer_ = frame;
#else
  getcontext(&context_);
  context_.uc_stack.ss_sp = const_cast<void*>(stack_bottom_);
  context_.uc_stack.ss_size = stack_bytes_;
  context_.uc_link = nullptr;
  const auto address = reinterpret_cast<std::uintptr_t>(this);
  makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::start_from_ucontext), 2,
              static_cast<unsigned>(address >> 32), static_cast<unsigned>(address & 0xFFFFFFFFu));
#endif
}

Fiber::~Fiber() {
#if defined(FTHOST_EMULATION_ASAN)
  // A suspended fiber leaves its frames' redzones poisoned; the next mapping there must not see them.
  __asan_unpoison_memory_region(stack_bottom_, stack_bytes_);
#endif
  munmap(stack_, mapped_bytes_);
}

void Fiber::resume() {
  start_switch(&scheduler_fake_stack_, stack_bottom_, stack_bytes_);
#if defined(__x86_64__)
  fthost_emulation_switch(&scheduler_stack_pointer_, stack_pointer_);
#else
  swapcontext(&scheduler_context_, &context_);
#endif
  finish_switch(scheduler_fake_stack_, nullptr, nullptr);
}

void Fiber::suspend() {
  start_switch(&fake_stack_, scheduler_bottom_, scheduler_bytes_);
#if defined(__x86_64__)
  fthost_emulation_switch(&stack_pointer_, scheduler_stack_pointer_);
#else
  swapcontext(&context_, &scheduler_context_);
#endif
  finish_switch(fake_stack_, &scheduler_bottom_, &scheduler_bytes_);
}

void Fiber::start(Fiber* self) {
  finish_switch(nullptr, &self->scheduler_bottom_, &self->scheduler_bytes_);
  self->entry_(self->argument_);
  std::abort();  // entries suspend forever; they never return
}

#if !defined(__x86_64__)
void Fiber::start_from_ucontext(unsigned high, unsigned low) {
  start(reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(high) << 32) | low));
}
#endif

}  // namespace fthost::cuda_emulation
