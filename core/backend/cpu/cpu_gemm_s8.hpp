#pragma once
// int8 GEMMs with int32 sums, LLM.int8()'s int8 x int8 -> int32 product (bitsandbytes'
// int8_linear_matmul): c[m,n] = a[m,k] @ b[n,k]^T, every product and sum exact in int32.
// Through oneDNN's matmul primitive on the CPU's int8 units, chosen at run time: AMX-INT8 (s8 x s8
// as is), else AVX512-VNNI or AVX-VNNI (u8 x s8 on a + 128, compensated here, because oneDNN's own
// s8 handling rounds large sums through f32); else, or where oneDNN has no kernel, a blocked
// OpenMP loop. Primitives are built once per shape (oneDNN JIT-compiles them) and kept.
// cpu_gemm_s8.cpp lists what was measured.

#include <cstdint>
#include <memory>
#include <string>

namespace fthost::backend::cpu {

// The loop: c[m,n] = a[m,k] @ b[n,k]^T, all three row-major and contiguous. Integer sums, so its
// result is the same for any thread count and vector width as long as no sum overflows int32
// (|sum| <= k * 128 * 128, which the op's checks keep below 2^31).
void gemm_s8_loop(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, const std::int8_t* b,
                  std::int32_t* c);

class S8Gemm {
 public:
  S8Gemm();
  ~S8Gemm();
  S8Gemm(const S8Gemm&) = delete;
  S8Gemm& operator=(const S8Gemm&) = delete;

  // c[m,n] = a[m,k] @ b[n,k]^T as gemm_s8_loop defines it, on oneDNN's kernel for the shape when
  // there is one.
  void run(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, const std::int8_t* b,
           std::int32_t* c);
  // What runs for this shape, for logs and tests: "oneDNN brg:avx512_core_amx_int8 (s8 x s8)"
  // (oneDNN's own name for its implementation, and the operand types) or "loop (<why>)".
  std::string kernel(std::int64_t m, std::int64_t n, std::int64_t k);

 private:
  struct State;
  struct Primitive;
  Primitive& primitive(std::int64_t m, std::int64_t n, std::int64_t k);
  std::unique_ptr<State> state_;
};

}  // namespace fthost::backend::cpu
