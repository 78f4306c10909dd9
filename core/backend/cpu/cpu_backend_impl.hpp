#pragma once
// The class behind make_cpu_backend(). Its members are defined across cpu_*.cpp, one file per
// concern (memory and elementwise, GEMM, embedding, norms, rotary, attention, activations, loss,
// optimizer); each checks its arguments with op_checks.hpp and then runs plain loops over raw
// pointers, with the tensor shapes in comments. Internal to the backend library.

#include <cstdint>
#include <memory>

#include "backend/backend.hpp"
#include "backend/cpu/cpu_gemm_bf16.hpp"
#include "backend/cpu/cpu_gemm_s8.hpp"

namespace fthost::backend::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();

  Device device() const override { return Device{DeviceKind::cpu, 0}; }
  Allocator& allocator() override { return *allocator_; }

  // cpu_elementwise.cpp
  void fill(const Tensor& tensor, float value) override;
  void copy(const Tensor& destination, const Tensor& source) override;
  void upload(const Tensor& destination, const void* host_bytes) override;
  void download(void* host_bytes, const Tensor& source) override;
  void add(const Tensor& out, const Tensor& a, const Tensor& b) override;
  void add_inplace(const Tensor& accumulator, const Tensor& value) override;
  void scale_inplace(const Tensor& tensor, float factor) override;
  void add_scaled(const Tensor& accumulator, const Tensor& value, float factor) override;
  void add_bias(const Tensor& out, const Tensor& bias) override;
  void round_to(const Tensor& tensor, DType dtype) override;
  void dropout(const Tensor& out, const Tensor& inp, float probability, std::uint64_t seed) override;
  double sum_of_squares(const Tensor& tensor) override;
  void copy_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) override;
  void accumulate_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) override;

  // cpu_gemm.cpp
  void set_matmul_precision(DType dtype) override;
  void gemm(bool transpose_a, bool transpose_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override;
  void linear_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) override;
  void linear_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                       const Tensor& inp, const Tensor& weight) override;

  // cpu_gemm_s8.cpp
  void gemm_s8(const Tensor& c, const Tensor& a, const Tensor& b) override;

  // cpu_embedding.cpp
  void embedding_forward(const Tensor& out, const Tensor& ids, const Tensor& table) override;
  void embedding_backward(const Tensor& dtable, const Tensor& ids, const Tensor& dout) override;

  // cpu_norms.cpp
  void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& inp, const Tensor& weight,
                       float eps) override;
  void rmsnorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dout, const Tensor& inp,
                        const Tensor& weight, const Tensor& rstd) override;
  void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                         const Tensor& weight, const Tensor& bias, float eps) override;
  void layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                          const Tensor& inp, const Tensor& weight, const Tensor& mean, const Tensor& rstd) override;

  // cpu_rotary.cpp
  void rotary_inplace(const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
                      RotaryDirection direction) override;

  // cpu_attention.cpp
  void attention_cached(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        std::int64_t past, float scale) override;
  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& doc_start, float scale) override;
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          const Tensor& doc_start, float scale) override;

  // cpu_activations.cpp
  void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) override;
  void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                       const Tensor& up) override;
  void gelu_forward(const Tensor& out, const Tensor& inp) override;
  void gelu_backward(const Tensor& dinp, const Tensor& dout, const Tensor& inp) override;

  // cpu_loss.cpp
  void cross_entropy_rows(const Tensor& losses, const Tensor& logits, const Tensor& targets,
                          float gradient_scale) override;

  // cpu_optimizer.cpp
  void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                  double beta2, double eps, double weight_decay, std::int64_t step) override;

 private:
  // c = alpha * op(a) @ op(b) + beta * c in the current matmul precision (cpu_gemm.cpp).
  void matmul(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
              std::int64_t ldc, const char* op);

  std::unique_ptr<Allocator> allocator_;
  DType matmul_precision_ = DType::f32;
  std::unique_ptr<Bf16Gemm> bf16_gemm_;  // built on first use
  std::unique_ptr<S8Gemm> s8_gemm_;      // built on first use
};

}  // namespace fthost::backend::cpu
