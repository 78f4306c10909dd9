#pragma once
// Tensors and operations a strategy may use while the model runs. The host owns every buffer and
// hands a plugin non-owning views of them; the plugin computes through `Ops`, which the host
// implements on the pipeline's backend, so a strategy written once runs on CPU and CUDA alike.

#include <cstdint>
#include <span>

#include "fthost/sdk/context.hpp"
#include "fthost/sdk/types.hpp"

namespace fthost::sdk {

// A row-major, contiguous 2-D view of host-owned memory on the Ops' device: `rows` x `cols`
// elements of `dtype`. A vector is 1 x n. Never owns, never outlives the call it was passed to
// unless the host says so (adapter parameters and saved activations live as long as the model).
struct TensorRef {
  void* data = nullptr;
  DType dtype = DType::f32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  bool defined() const { return data != nullptr; }
  std::int64_t elements() const { return rows * cols; }
};

// Every op checks shapes and dtypes (f32 unless an op says otherwise) and throws std::logic_error
// on a mismatch, which the host reports naming the plugin.
class Ops {
 public:
  virtual ~Ops() = default;

  virtual BackendKind backend() const = 0;

  // out[m,n] = alpha * op(a) @ op(b) + beta * out; op(a) is [m,k] (a^T when transpose_a), op(b) [k,n].
  virtual void matmul(const TensorRef& out, const TensorRef& a, bool transpose_a, const TensorRef& b,
                      bool transpose_b, float alpha, float beta) = 0;
  // accumulator += factor * value (same element count)
  virtual void add_scaled(const TensorRef& accumulator, const TensorRef& value, float factor) = 0;
  virtual void fill(const TensorRef& tensor, float value) = 0;

  // Random fills, deterministic for a seed on every backend (counter-based: element i's value
  // depends only on seed and i), so a run and its resume, or a CPU and a CUDA run, agree.
  virtual void fill_uniform(const TensorRef& tensor, float low, float high, std::uint64_t seed) = 0;
  virtual void fill_normal(const TensorRef& tensor, float mean, float stddev, std::uint64_t seed) = 0;
  // out = input * keep / (1 - probability), keep[i] ~ Bernoulli(1 - probability) drawn from (seed, i);
  // the same seed gives the same mask, which is how a backward pass or a recompute reproduces it.
  virtual void dropout(const TensorRef& out, const TensorRef& input, float probability, std::uint64_t seed) = 0;

  // ---- since SDK 3.0 ----
  // Rounds f32 values in place to the nearest bf16 or f16 value (ties to even): the tensor then
  // holds exactly what 16-bit storage would.
  virtual void round_to(const TensorRef& tensor, DType dtype) = 0;
  // out[m,n] (i32) = a[m,k] (i8) @ b[n,k]^T (i8), exact: products summed in int32 (LLM.int8()).
  virtual void matmul_s8(const TensorRef& out, const TensorRef& a, const TensorRef& b) = 0;
  // A host-allocated work tensor (contents undefined), counted by the host's memory metrics; valid
  // until the hook that asked for it returns.
  virtual TensorRef scratch(DType dtype, std::int64_t rows, std::int64_t cols) = 0;
};

}  // namespace fthost::sdk
