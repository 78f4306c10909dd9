#pragma once
// The CUDA backend's kernel launchers: plain functions over device pointers, one .cu file per
// concern (cuda_elementwise.cu, cuda_norms.cu, ...). CudaBackend (cuda_backend.cpp) checks every
// op's arguments with op_checks.hpp and then calls one of these; they only queue work on `stream`
// and never synchronise, so a step's kernels run back to back.
//
// Every launcher computes what the CPU backend's op of the same name computes (backend.hpp states
// the contract; cpu/cpu_*.cpp is the reference): the same formulas, the same accumulate-into-
// gradients convention, the same masks. Results may differ from the CPU's by f32 rounding only
// (different summation order, fused multiply-adds), never by algorithm.
//
// Determinism: the same inputs give bit-identical outputs on the same GPU from run to run. No
// floating-point atomics; reductions run in a fixed order (per-block partials, then one pass).
//
// Indices that come from data (token ids, targets, doc_start) are checked in the kernel: a bad
// one is skipped and its code is recorded in `error` (device-visible int, first code wins via
// atomicCAS from 0); the backend raises std::out_of_range at its next synchronisation.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace fthost::backend::cuda::kernels {

using i64 = std::int64_t;

// Codes written to `error`.
inline constexpr int kErrorTokenId = 1;         // embedding: id outside [0, vocabulary)
inline constexpr int kErrorTarget = 2;          // cross-entropy: target outside [0, V) and not -100
inline constexpr int kErrorDocStart = 3;        // attention: doc_start[t] outside [0, t]

// Device memory for one launcher call's intermediates. The backend frees it after the launcher
// returns; its caching allocator hands freed blocks out again only to work queued later on the
// same stream, so the memory stays valid for the kernels already queued.
class Scratch {
 public:
  virtual ~Scratch() = default;
  // At least `bytes` bytes, 256-byte aligned, uninitialised. Throws std::bad_alloc on failure.
  virtual void* get(std::size_t bytes) = 0;
};

// ---- memory and elementwise (cuda_elementwise.cu) ----
void fill(float* x, i64 n, float value, cudaStream_t stream);
void add(float* out, const float* a, const float* b, i64 n, cudaStream_t stream);  // out may alias a or b
void scale(float* x, float factor, i64 n, cudaStream_t stream);
void add_scaled(float* accumulator, const float* value, float factor, i64 n, cudaStream_t stream);
void add_bias(float* out, const float* bias, i64 rows, i64 cols, cudaStream_t stream);  // out[N,C] += bias[C]
void round_to_bf16(float* x, i64 n, cudaStream_t stream);
void round_to_f16(float* x, i64 n, cudaStream_t stream);
// out[i] = keep ? inp[i] / (1 - p) : 0 with keep = counter_uniform(seed, i) >= p (counter_random.hpp);
// the CPU's exact expression (cpu_elementwise.cpp), so the masks and values match bit for bit.
void dropout(float* out, const float* inp, i64 n, float probability, std::uint64_t seed, cudaStream_t stream);
// *result (device) = sum x[i]^2 accumulated in f64, deterministic.
void sum_of_squares(double* result, const float* x, i64 n, Scratch& scratch, cudaStream_t stream);
// destination[N,w] = source[N, first : first + w] (source is [N, wide])
void copy_columns(float* destination, const float* source, i64 rows, i64 width, i64 wide, i64 first,
                  cudaStream_t stream);
// destination[N, first : first + w] += source[N,w] (destination is [N, wide])
void accumulate_columns(float* destination, const float* source, i64 rows, i64 width, i64 wide, i64 first,
                        cudaStream_t stream);
// sums[C] += sum over rows of x[N,C] (a linear layer's bias gradient), deterministic.
void column_sums_accumulate(float* sums, const float* x, i64 rows, i64 cols, Scratch& scratch, cudaStream_t stream);
// f32 -> bf16 bits (round to nearest even), for GEMM operands in bf16 matmul precision.
void to_bf16(std::uint16_t* out, const float* in, i64 n, cudaStream_t stream);

// ---- int8 GEMM (cuda_gemm_s8.cu) ----
// c[m,n] (i32) = a[m,k] (i8) @ b[n,k]^T (i8), exact int32 sums.
void gemm_s8(std::int32_t* c, const std::int8_t* a, const std::int8_t* b, i64 m, i64 n, i64 k, cudaStream_t stream);

// ---- embedding (cuda_embedding.cu) ----
void embedding_forward(float* out, const std::int32_t* ids, const float* table, i64 rows, i64 vocabulary,
                       i64 channels, int* error, cudaStream_t stream);
// dtable[ids[n], :] += dout[n, :], deterministic (rows of one id summed in order of n).
void embedding_backward(float* dtable, const std::int32_t* ids, const float* dout, i64 rows, i64 vocabulary,
                        i64 channels, Scratch& scratch, int* error, cudaStream_t stream);

// ---- norms (cuda_norms.cu); gradient outputs may be null (not wanted) ----
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, i64 rows, i64 channels,
                     float eps, cudaStream_t stream);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, i64 rows, i64 channels, Scratch& scratch, cudaStream_t stream);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       i64 rows, i64 channels, float eps, cudaStream_t stream);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, i64 rows, i64 channels,
                        Scratch& scratch, cudaStream_t stream);

// ---- rotary (cuda_rotary.cu): x[N, heads, D] in place; inverse = the backward rotation ----
void rotary(float* x, const std::int32_t* positions, const float* inv_freq, i64 rows, i64 heads, i64 head_size,
            bool inverse, cudaStream_t stream);

// ---- attention (cuda_attention.cu) ----
// q[B,T,H,D], k and v [B,T,KV,D], doc_start[B,T], out[B,T,H,D], lse[B,H,T].
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const std::int32_t* doc_start, i64 batch, i64 sequence, i64 heads, i64 kv_heads,
                       i64 head_size, float scale, int* error, cudaStream_t stream);
// Accumulates into dq, dk, dv (+=).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const std::int32_t* doc_start,
                        i64 batch, i64 sequence, i64 heads, i64 kv_heads, i64 head_size, float scale,
                        Scratch& scratch, int* error, cudaStream_t stream);
// q[T,H,D] at positions past..past+T-1; caches [S,KV,D]; out[T,H,D].
void attention_cached(float* out, const float* q, const float* k_cache, const float* v_cache, i64 queries,
                      i64 heads, i64 kv_heads, i64 head_size, i64 past, float scale, cudaStream_t stream);

// ---- activations (cuda_activations.cu) ----
void swiglu_forward(float* out, const float* gate, const float* up, i64 n, cudaStream_t stream);
// dgate and dup accumulate (+=); either may be null.
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, i64 n,
                     cudaStream_t stream);
void gelu_forward(float* out, const float* inp, i64 n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* dout, const float* inp, i64 n, cudaStream_t stream);  // dinp +=

// ---- loss (cuda_loss.cu) ----
// losses[N]; logits[N,V] overwritten with the scaled gradient when gradient_scale != 0.
void cross_entropy_rows(float* losses, float* logits, const std::int32_t* targets, i64 rows, i64 vocabulary,
                        float gradient_scale, int* error, cudaStream_t stream);

// ---- optimizer (cuda_optimizer.cu) ----
// The f32 scalars of one step, derived in f64 on the host exactly as cpu_optimizer.cpp derives
// them (torch's order); the kernel then runs cpu_optimizer.cpp's per-element arithmetic.
struct AdamWScalars {
  float decay = 0;                  // 1 - lr * weight_decay
  float lerp_weight = 0;            // 1 - beta1 (torch.lerp's formula switches at |w| 0.5)
  float beta2 = 0;
  float square_weight = 0;          // 1 - beta2
  float negative_step_size = 0;     // -(lr / (1 - beta1^step))
  float bias_correction2_sqrt = 0;  // sqrt(1 - beta2^step)
  float eps = 0;
};
void adamw_step(float* param, const float* grad, float* m, float* v, i64 n, const AdamWScalars& scalars,
                cudaStream_t stream);

}  // namespace fthost::backend::cuda::kernels
