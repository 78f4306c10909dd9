#pragma once
// The operations a model step needs, as one interface that each device implements (cpu/ now,
// cuda/ next). The model layer calls only these; a new device is a new implementation of this
// class, held together with the CPU one by tests that run every op on both.
//
// Conventions:
// - Shapes in comments: N = rows (batch * sequence), C = channels, OC = output channels,
//   H = query heads, KV = key/value heads, D = head size, F = MLP hidden, V = vocabulary.
// - Every *_backward ACCUMULATES into its gradient outputs (dx += ...): residual streams, tied
//   embeddings and gradient accumulation then need no extra adds. Callers zero gradients once.
// - A gradient output that is not wanted (a frozen weight) is passed as an undefined Tensor and
//   is neither read nor written, and its work is skipped.
// - Float tensors are f32 in this version; token ids and positions are i32.
// - Shape mismatches are programming errors: implementations check them and throw std::logic_error
//   (op_checks.hpp holds the checks, so that every device enforces the same contract). An index
//   out of range (a token id, a target, a doc_start) throws std::out_of_range, also a logic_error.
// - "[N,C]" accepts any shape whose last dimension is C (a [B,T,C] activation is N = B*T rows);
//   "[N]" vectors (ids, targets, positions, rstd, losses) are checked by element count.
// - Elementwise ops take tensors with the same element count; their shapes may differ.

#include <cstdint>

#include "backend/tensor.hpp"

namespace fthost::backend {

// Rotary position embedding as Hugging Face Llama applies it ("rotate_half": element i pairs
// with i + D/2), with inverse frequencies precomputed by the model (rope_theta, llama3 scaling).
enum class RotaryDirection { forward, inverse };

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;
  Tensor empty(DType dtype, Shape shape) { return Tensor::empty(allocator(), device(), dtype, std::move(shape)); }
  Tensor zeros(DType dtype, Shape shape);

  // ---- memory ----
  virtual void fill(const Tensor& tensor, float value) = 0;  // f32: any value; other dtypes: only 0
  virtual void copy(const Tensor& destination, const Tensor& source) = 0;  // same dtype and element count
  // Host bytes in and out, for loading weights and reading results (f32 or i32).
  virtual void upload(const Tensor& destination, const void* host_bytes) = 0;
  virtual void download(void* host_bytes, const Tensor& source) = 0;

  // ---- elementwise ----
  virtual void add(const Tensor& out, const Tensor& a, const Tensor& b) = 0;  // out = a + b (out may alias a)
  virtual void add_inplace(const Tensor& accumulator, const Tensor& value) = 0;  // accumulator += value
  virtual void scale_inplace(const Tensor& tensor, float factor) = 0;
  virtual void add_scaled(const Tensor& accumulator, const Tensor& value, float factor) = 0;  // acc += factor * value
  // out[N,C] += bias[C] (a quantized site's bias, added after its plugin's matmul)
  virtual void add_bias(const Tensor& out, const Tensor& bias) = 0;
  // Rounds f32 values in place to the nearest value of a 16-bit float type (bf16 or f16), ties to
  // even, as a GPU's conversion does: the tensor then holds exactly what 16-bit storage would hold.
  // f16: beyond its range -> +-inf, below -> its subnormals or +-0. NaN stays NaN.
  virtual void round_to(const Tensor& tensor, DType dtype) = 0;
  // out = inp * keep / (1 - probability) with keep[i] = counter_uniform(seed, i) >= probability
  // (backend/counter_random.hpp): every device draws the same mask for a seed. out may alias inp.
  virtual void dropout(const Tensor& out, const Tensor& inp, float probability, std::uint64_t seed) = 0;
  virtual double sum_of_squares(const Tensor& tensor) = 0;  // in f64, for global gradient norms
  // Column blocks of row-major matrices (GPT-2's fused c_attn output [N, 3C] -> q, k, v):
  // destination[N,w] = source[N, first_column : first_column + w]
  virtual void copy_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) = 0;
  // destination[N, first_column : first_column + w] += source[N,w]
  virtual void accumulate_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) = 0;

  // ---- GEMM ----
  // f32 (the default): GEMMs in f32. bf16: GEMM inputs rounded to bf16, products accumulated in
  // f32 into f32 outputs, on the matrix units where the device has them (a GPU's bf16 GEMM).
  virtual void set_matmul_precision(DType dtype) = 0;
  // c[m,n] = alpha * op(a) @ op(b) + beta * c, row-major; op(a) is [m,k], op(b) is [k,n].
  virtual void gemm(bool transpose_a, bool transpose_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                    const Tensor& c) = 0;
  // c[m,n] (i32) = a[m,k] (i8) @ b[n,k]^T (i8), exact: products summed in int32 (LLM.int8()'s
  // int8 x int8 -> int32). On the matrix/vector int8 units the CPU has (AMX-INT8, AVX512-VNNI, ...),
  // chosen at run time, else a plain loop. a and c follow the [N,C] convention (m rows); k is at
  // most 131071, so that no sum of k products (each at most 128 * 128) overflows int32.
  virtual void gemm_s8(const Tensor& c, const Tensor& a, const Tensor& b) = 0;

  // ---- layers ----
  // out[N,C] = table[ids[N], :]
  virtual void embedding_forward(const Tensor& out, const Tensor& ids, const Tensor& table) = 0;
  // dtable[ids[n], :] += dout[n, :]
  virtual void embedding_backward(const Tensor& dtable, const Tensor& ids, const Tensor& dout) = 0;

  // out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC] (bias may be undefined)
  virtual void linear_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) = 0;
  // dinp[N,C] += dout @ weight; dweight[OC,C] += dout^T @ inp; dbias[OC] += sum_n dout
  virtual void linear_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                               const Tensor& inp, const Tensor& weight) = 0;

  // out[N,C] = inp * rstd * weight, rstd[N] = 1 / sqrt(mean(inp^2) + eps) (saved for backward)
  virtual void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& inp, const Tensor& weight,
                               float eps) = 0;
  virtual void rmsnorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dout, const Tensor& inp,
                                const Tensor& weight, const Tensor& rstd) = 0;

  // out[N,C] = (inp - mean) * rstd * weight + bias; mean[N], rstd[N] saved for backward
  virtual void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                                 const Tensor& weight, const Tensor& bias, float eps) = 0;
  virtual void layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                                  const Tensor& inp, const Tensor& weight, const Tensor& mean, const Tensor& rstd) = 0;

  // x[N, heads, D] rotated in place by angle positions[n] * inv_freq[i] (inv_freq[D/2]).
  // The inverse direction is the backward pass (rotation is orthogonal): dx = R^T dy.
  virtual void rotary_inplace(const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
                              RotaryDirection direction) = 0;

  // Causal self-attention inside documents. q[B,T,H,D], k and v [B,T,KV,D] (H divisible by KV:
  // grouped-query attention), doc_start[B,T] (i32) = index within the row of the first token of
  // the token's document: token t attends keys s with doc_start[t] <= s <= t. out[B,T,H,D];
  // lse[B,H,T] = log-sum-exp of each query's scaled scores, saved for backward. Never builds the
  // [T,T] score matrix for the whole batch.
  virtual void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                 const Tensor& v, const Tensor& doc_start, float scale) = 0;
  virtual void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& doc_start, float scale) = 0;

  // Decoding one sequence with a key/value cache: q[T,H,D] holds the queries of positions
  // past .. past+T-1; k_cache and v_cache [S,KV,D] the keys and values of positions 0 .. past+T-1
  // (S >= past + T; rows beyond are not read). Query t attends keys 0 .. past + t. out[T,H,D].
  virtual void attention_cached(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                std::int64_t past, float scale) = 0;

  // out[N,F] = silu(gate) * up
  virtual void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) = 0;
  virtual void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                               const Tensor& up) = 0;

  // GPT-2's "gelu_new" (tanh approximation)
  virtual void gelu_forward(const Tensor& out, const Tensor& inp) = 0;
  virtual void gelu_backward(const Tensor& dinp, const Tensor& dout, const Tensor& inp) = 0;

  // Rows of logits[n,V] -> softmax cross-entropy against targets[n] (i32; -100 = ignored row).
  // losses[n] = -log softmax(logits)[target] (0 for ignored rows). When `gradient_scale` is not 0,
  // logits are overwritten with d(loss_sum * gradient_scale)/dlogits = (softmax - onehot) * scale.
  virtual void cross_entropy_rows(const Tensor& losses, const Tensor& logits, const Tensor& targets,
                                  float gradient_scale) = 0;

  // ---- optimizer ----
  // Decoupled AdamW (Loshchilov & Hutter; torch.optim.AdamW): with bias corrections for `step`
  // (1-based), param -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * param).
  // Hyperparameters are doubles, as Python's floats are: torch derives 1 - beta1, the bias
  // corrections and the step size in double and rounds each to f32 only where it meets a tensor,
  // and matching that keeps fthost's steps within an ulp of torch's.
  virtual void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                          double beta1, double beta2, double eps, double weight_decay, std::int64_t step) = 0;
};

}  // namespace fthost::backend
