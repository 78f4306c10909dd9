#pragma once
// The shape contract of every Backend op, written once and called by every device's
// implementation before it touches memory: a tensor of the wrong dtype, device or shape is a
// programming error, reported as std::logic_error naming the op, the tensor and both shapes
// ("rmsnorm_forward: weight is [12], expected [13]"). Each check returns the dimensions the op
// works with, so a kernel never re-derives them. Gradient outputs may be undefined (not wanted);
// everything else must be defined. See backend.hpp for the conventions on [N,C] and [N].

#include <cstdint>

#include "backend/tensor.hpp"

namespace fthost::backend::checks {

struct ColumnBlockDims {
  std::int64_t rows = 0;
  std::int64_t block_columns = 0;  // w: columns of the narrow tensor
  std::int64_t wide_columns = 0;   // columns of the wide tensor
};
struct GemmDims {
  std::int64_t m = 0, n = 0, k = 0;
};
struct LinearDims {
  std::int64_t rows = 0, in_channels = 0, out_channels = 0;
};
struct EmbeddingDims {
  std::int64_t rows = 0, vocabulary = 0, channels = 0;
};
struct NormDims {
  std::int64_t rows = 0, channels = 0;
};
struct RotaryDims {
  std::int64_t rows = 0, heads = 0, head_size = 0;
};
struct AttentionDims {
  std::int64_t batch = 0, sequence = 0, heads = 0, kv_heads = 0, head_size = 0;
};
struct CrossEntropyDims {
  std::int64_t rows = 0, vocabulary = 0;
};

// ---- memory and elementwise: returns the element count ----
std::int64_t fill(Device device, const Tensor& tensor, float value);
std::int64_t copy(Device device, const Tensor& destination, const Tensor& source);
std::int64_t transfer(Device device, const Tensor& tensor, const void* host_bytes, const char* op);
std::int64_t add(Device device, const Tensor& out, const Tensor& a, const Tensor& b);
std::int64_t add_inplace(Device device, const Tensor& accumulator, const Tensor& value);
// Returns the row width C of out[N,C] += bias[C].
std::int64_t add_bias(Device device, const Tensor& out, const Tensor& bias);
std::int64_t unary_f32(Device device, const Tensor& tensor, const char* op);
std::int64_t dropout(Device device, const Tensor& out, const Tensor& inp, float probability);
ColumnBlockDims column_block(Device device, const Tensor& wide, const Tensor& narrow, std::int64_t first_column,
                             const char* op);

// ---- GEMM and layers ----
GemmDims gemm(Device device, bool transpose_a, bool transpose_b, const Tensor& a, const Tensor& b, const Tensor& c);
GemmDims gemm_s8(Device device, const Tensor& c, const Tensor& a, const Tensor& b);
LinearDims linear_forward(Device device, const Tensor& out, const Tensor& inp, const Tensor& weight,
                          const Tensor& bias);
LinearDims linear_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                           const Tensor& dout, const Tensor& inp, const Tensor& weight);
EmbeddingDims embedding_forward(Device device, const Tensor& out, const Tensor& ids, const Tensor& table);
EmbeddingDims embedding_backward(Device device, const Tensor& dtable, const Tensor& ids, const Tensor& dout);
NormDims rmsnorm_forward(Device device, const Tensor& out, const Tensor& rstd, const Tensor& inp,
                         const Tensor& weight, float eps);
NormDims rmsnorm_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dout,
                          const Tensor& inp, const Tensor& weight, const Tensor& rstd);
NormDims layernorm_forward(Device device, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                           const Tensor& inp, const Tensor& weight, const Tensor& bias, float eps);
NormDims layernorm_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                            const Tensor& dout, const Tensor& inp, const Tensor& weight, const Tensor& mean,
                            const Tensor& rstd);
RotaryDims rotary(Device device, const Tensor& x, const Tensor& positions, const Tensor& inv_freq);
AttentionDims attention_forward(Device device, const Tensor& out, const Tensor& lse, const Tensor& q,
                                const Tensor& k, const Tensor& v, const Tensor& doc_start);
AttentionDims attention_backward(Device device, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                 const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& out, const Tensor& lse, const Tensor& doc_start);
AttentionDims attention_cached(Device device, const Tensor& out, const Tensor& q, const Tensor& k_cache,
                               const Tensor& v_cache, std::int64_t past);
// The activations are elementwise: they return the element count.
std::int64_t swiglu_forward(Device device, const Tensor& out, const Tensor& gate, const Tensor& up);
std::int64_t swiglu_backward(Device device, const Tensor& dgate, const Tensor& dup, const Tensor& dout,
                             const Tensor& gate, const Tensor& up);
std::int64_t gelu_forward(Device device, const Tensor& out, const Tensor& inp);
std::int64_t gelu_backward(Device device, const Tensor& dinp, const Tensor& dout, const Tensor& inp);
CrossEntropyDims cross_entropy_rows(Device device, const Tensor& losses, const Tensor& logits,
                                    const Tensor& targets);
std::int64_t adamw_step(Device device, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                        std::int64_t step);

}  // namespace fthost::backend::checks
