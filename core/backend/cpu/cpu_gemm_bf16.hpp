#pragma once
// bf16 GEMMs on the CPU's matrix units (AMX, or AVX512-BF16) through oneDNN's matmul primitive:
// c = alpha * op(a) @ op(b) + beta * c with a and b rounded to bf16 (ties to even) and products
// accumulated in f32 into an f32 c, what a GPU's bf16 GEMM with f32 accumulation computes.
// Primitives are built once per shape (oneDNN JIT-compiles them) and kept.

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

namespace fthost::backend::cpu {

class Bf16Gemm {
 public:
  Bf16Gemm();
  ~Bf16Gemm();
  Bf16Gemm(const Bf16Gemm&) = delete;
  Bf16Gemm& operator=(const Bf16Gemm&) = delete;

  // Row-major, leading dimensions lda / ldb / ldc as in BLAS (c contiguous rows: ldc >= n).
  void run(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fthost::backend::cpu
