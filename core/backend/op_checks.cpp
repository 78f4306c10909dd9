// The shape contract of the Backend ops. See op_checks.hpp.

#include "backend/op_checks.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fthost::backend::checks {
namespace {

std::string dtype_name(DType dtype) { return std::string(sdk::to_string(dtype)); }

// Checks for one call of one op; every message starts with the op's name.
class OpCheck {
 public:
  OpCheck(const char* op, Device device) : op_(op), device_(device) {}

  [[noreturn]] void fail(const std::string& what) const { throw std::logic_error(std::string(op_) + ": " + what); }

  // A tensor the op needs: defined, of `dtype`, on this backend's device.
  void require(const Tensor& tensor, const char* name, DType dtype) const {
    if (!tensor.defined()) fail(std::string(name) + " is undefined");
    check_dtype_and_device(tensor, name, dtype);
  }
  // A gradient output, which may be undefined (not wanted). Returns whether it is defined.
  bool optional(const Tensor& tensor, const char* name, DType dtype) const {
    if (!tensor.defined()) return false;
    check_dtype_and_device(tensor, name, dtype);
    return true;
  }

  void shape(const Tensor& tensor, const char* name, const Shape& expected) const {
    if (tensor.shape() != expected) {
      fail(std::string(name) + " is " + shape_to_string(tensor.shape()) + ", expected " + shape_to_string(expected));
    }
  }
  void elements(const Tensor& tensor, const char* name, std::int64_t expected) const {
    if (tensor.numel() != expected) {
      fail(std::string(name) + " " + shape_to_string(tensor.shape()) + " has " + std::to_string(tensor.numel()) +
           " elements, expected " + std::to_string(expected));
    }
  }
  std::int64_t last_dim(const Tensor& tensor, const char* name) const {
    if (tensor.rank() == 0) fail(std::string(name) + " is a scalar, expected [N, C]");
    return tensor.shape().back();
  }
  // [N, columns]: any shape whose last dimension is `columns`, with N rows (numel = N * columns).
  void matrix(const Tensor& tensor, const char* name, std::int64_t rows, std::int64_t columns) const {
    if (last_dim(tensor, name) != columns || tensor.numel() != rows * columns) {
      fail(std::string(name) + " is " + shape_to_string(tensor.shape()) + ", expected [" + std::to_string(rows) +
           ", " + std::to_string(columns) + "] (any shape whose last dimension is " + std::to_string(columns) +
           ")");
    }
  }
  // Rows of an [N, columns] tensor whose last dimension is `columns`.
  std::int64_t rows_of(const Tensor& tensor, const char* name) const {
    const std::int64_t columns = last_dim(tensor, name);
    return columns == 0 ? 0 : tensor.numel() / columns;
  }
  void positive_epsilon(float eps) const {
    if (!std::isfinite(eps) || eps < 0.0f) fail("eps " + std::to_string(eps) + " is not a finite value >= 0");
  }

 private:
  void check_dtype_and_device(const Tensor& tensor, const char* name, DType dtype) const {
    if (tensor.dtype() != dtype) {
      fail(std::string(name) + " is " + dtype_name(tensor.dtype()) + ", expected " + dtype_name(dtype));
    }
    if (tensor.device() != device_) {
      fail(std::string(name) + " is on " + to_string(tensor.device()) + ", the backend on " + to_string(device_));
    }
  }

  const char* op_;
  Device device_;
};

constexpr DType f32 = DType::f32;
constexpr DType i32 = DType::i32;

}  // namespace

std::int64_t fill(Device device, const Tensor& tensor, float value) {
  OpCheck check("fill", device);
  if (!tensor.defined()) check.fail("tensor is undefined");
  check.require(tensor, "tensor", tensor.dtype());
  if (tensor.dtype() != f32 && value != 0.0f) {
    check.fail("a " + dtype_name(tensor.dtype()) + " tensor can only be filled with 0, not " + std::to_string(value));
  }
  return tensor.numel();
}

std::int64_t copy(Device device, const Tensor& destination, const Tensor& source) {
  OpCheck check("copy", device);
  check.require(source, "source", source.dtype());
  check.require(destination, "destination", source.dtype());
  check.elements(destination, "destination", source.numel());
  return source.numel();
}

std::int64_t transfer(Device device, const Tensor& tensor, const void* host_bytes, const char* op) {
  OpCheck check(op, device);
  check.require(tensor, "tensor", tensor.dtype());
  if (host_bytes == nullptr && tensor.numel() != 0) check.fail("host pointer is null");
  return tensor.numel();
}

std::int64_t add(Device device, const Tensor& out, const Tensor& a, const Tensor& b) {
  OpCheck check("add", device);
  check.require(a, "a", f32);
  check.require(b, "b", f32);
  check.require(out, "out", f32);
  check.elements(b, "b", a.numel());
  check.elements(out, "out", a.numel());
  return a.numel();
}

std::int64_t add_inplace(Device device, const Tensor& accumulator, const Tensor& value) {
  OpCheck check("add_inplace", device);
  check.require(accumulator, "accumulator", f32);
  check.require(value, "value", f32);
  check.elements(value, "value", accumulator.numel());
  return value.numel();
}

std::int64_t add_bias(Device device, const Tensor& out, const Tensor& bias) {
  OpCheck check("add_bias", device);
  check.require(out, "out", f32);
  check.require(bias, "bias", f32);
  const std::int64_t width = out.rank() == 0 ? 1 : out.shape().back();
  check.elements(bias, "bias", width);
  return width;
}

std::int64_t dropout(Device device, const Tensor& out, const Tensor& inp, float probability) {
  OpCheck check("dropout", device);
  check.require(out, "out", f32);
  check.require(inp, "inp", f32);
  check.elements(inp, "inp", out.numel());
  if (!(probability >= 0.0f && probability < 1.0f)) {
    throw std::logic_error("dropout: probability " + std::to_string(probability) + " is outside [0, 1)");
  }
  return out.numel();
}

std::int64_t unary_f32(Device device, const Tensor& tensor, const char* op) {
  OpCheck check(op, device);
  check.require(tensor, "tensor", f32);
  return tensor.numel();
}

ColumnBlockDims column_block(Device device, const Tensor& wide, const Tensor& narrow, std::int64_t first_column,
                             const char* op) {
  OpCheck check(op, device);
  check.require(wide, "wide tensor", f32);
  check.require(narrow, "narrow tensor", f32);
  ColumnBlockDims dims;
  dims.wide_columns = check.last_dim(wide, "wide tensor");
  dims.block_columns = check.last_dim(narrow, "narrow tensor");
  dims.rows = check.rows_of(wide, "wide tensor");
  check.matrix(narrow, "narrow tensor", dims.rows, dims.block_columns);
  if (first_column < 0 || first_column > dims.wide_columns - dims.block_columns) {
    check.fail("columns [" + std::to_string(first_column) + ", " + std::to_string(first_column + dims.block_columns) +
               ") are outside the " + std::to_string(dims.wide_columns) + " columns of " +
               shape_to_string(wide.shape()));
  }
  return dims;
}

GemmDims gemm(Device device, bool transpose_a, bool transpose_b, const Tensor& a, const Tensor& b, const Tensor& c) {
  OpCheck check("gemm", device);
  check.require(a, "a", f32);
  check.require(b, "b", f32);
  check.require(c, "c", f32);
  if (a.rank() != 2 || b.rank() != 2 || c.rank() != 2) {
    check.fail("a, b and c must be matrices; they are " + shape_to_string(a.shape()) + ", " +
               shape_to_string(b.shape()) + ", " + shape_to_string(c.shape()));
  }
  GemmDims dims;
  dims.m = transpose_a ? a.dim(1) : a.dim(0);
  dims.k = transpose_a ? a.dim(0) : a.dim(1);
  const std::int64_t b_rows = transpose_b ? b.dim(1) : b.dim(0);
  dims.n = transpose_b ? b.dim(0) : b.dim(1);
  if (b_rows != dims.k) {
    check.fail("op(a) is [" + std::to_string(dims.m) + ", " + std::to_string(dims.k) + "] but op(b) is [" +
               std::to_string(b_rows) + ", " + std::to_string(dims.n) + "]: inner dimensions differ");
  }
  check.shape(c, "c", {dims.m, dims.n});
  return dims;
}

GemmDims gemm_s8(Device device, const Tensor& c, const Tensor& a, const Tensor& b) {
  // Sums of k products of int8 values, each at most 128 * 128 = 2^14, fit int32 up to this k.
  constexpr std::int64_t kLongestExactSum = (std::int64_t{1} << 31) / (128 * 128) - 1;  // 131071
  OpCheck check("gemm_s8", device);
  check.require(c, "c", i32);
  check.require(a, "a", DType::i8);
  check.require(b, "b", DType::i8);
  if (b.rank() != 2) check.fail("b is " + shape_to_string(b.shape()) + ", expected [n, k]");
  // m = the product of a's leading dimensions (also when k is 0, where rows_of cannot tell).
  const std::int64_t k = check.last_dim(a, "a");
  GemmDims dims{shape_elements(Shape(a.shape().begin(), a.shape().end() - 1)), b.dim(0), k};
  if (b.dim(1) != dims.k) {
    check.fail("a is " + shape_to_string(a.shape()) + " but b is " + shape_to_string(b.shape()) +
               ": a's last dimension and b's second (k) differ");
  }
  check.matrix(c, "c", dims.m, dims.n);
  if (dims.k > kLongestExactSum) {
    check.fail("k (" + std::to_string(dims.k) + ") exceeds " + std::to_string(kLongestExactSum) +
               ": a sum of that many int8 products can overflow int32");
  }
  return dims;
}

LinearDims linear_forward(Device device, const Tensor& out, const Tensor& inp, const Tensor& weight,
                          const Tensor& bias) {
  OpCheck check("linear_forward", device);
  check.require(out, "out", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  if (weight.rank() != 2) check.fail("weight is " + shape_to_string(weight.shape()) + ", expected [OC, C]");
  LinearDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp"), weight.dim(0)};
  check.shape(weight, "weight", {dims.out_channels, dims.in_channels});
  check.matrix(out, "out", dims.rows, dims.out_channels);
  if (check.optional(bias, "bias", f32)) check.shape(bias, "bias", {dims.out_channels});
  return dims;
}

LinearDims linear_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                           const Tensor& dout, const Tensor& inp, const Tensor& weight) {
  OpCheck check("linear_backward", device);
  check.require(dout, "dout", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  if (weight.rank() != 2) check.fail("weight is " + shape_to_string(weight.shape()) + ", expected [OC, C]");
  LinearDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp"), weight.dim(0)};
  check.shape(weight, "weight", {dims.out_channels, dims.in_channels});
  check.matrix(dout, "dout", dims.rows, dims.out_channels);
  if (check.optional(dinp, "dinp", f32)) check.matrix(dinp, "dinp", dims.rows, dims.in_channels);
  if (check.optional(dweight, "dweight", f32)) check.shape(dweight, "dweight", weight.shape());
  if (check.optional(dbias, "dbias", f32)) check.shape(dbias, "dbias", {dims.out_channels});
  return dims;
}

EmbeddingDims embedding_forward(Device device, const Tensor& out, const Tensor& ids, const Tensor& table) {
  OpCheck check("embedding_forward", device);
  check.require(out, "out", f32);
  check.require(ids, "ids", i32);
  check.require(table, "table", f32);
  if (table.rank() != 2) check.fail("table is " + shape_to_string(table.shape()) + ", expected [V, C]");
  EmbeddingDims dims{ids.numel(), table.dim(0), table.dim(1)};
  check.matrix(out, "out", dims.rows, dims.channels);
  return dims;
}

EmbeddingDims embedding_backward(Device device, const Tensor& dtable, const Tensor& ids, const Tensor& dout) {
  OpCheck check("embedding_backward", device);
  check.require(ids, "ids", i32);
  check.require(dout, "dout", f32);
  EmbeddingDims dims{ids.numel(), 0, check.last_dim(dout, "dout")};
  check.matrix(dout, "dout", dims.rows, dims.channels);
  if (check.optional(dtable, "dtable", f32)) {
    if (dtable.rank() != 2 || dtable.dim(1) != dims.channels) {
      check.fail("dtable is " + shape_to_string(dtable.shape()) + ", expected [V, " + std::to_string(dims.channels) +
                 "]");
    }
    dims.vocabulary = dtable.dim(0);
  }
  return dims;
}

NormDims rmsnorm_forward(Device device, const Tensor& out, const Tensor& rstd, const Tensor& inp,
                         const Tensor& weight, float eps) {
  OpCheck check("rmsnorm_forward", device);
  check.require(out, "out", f32);
  check.require(rstd, "rstd", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  check.positive_epsilon(eps);
  NormDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp")};
  check.shape(weight, "weight", {dims.channels});
  check.matrix(out, "out", dims.rows, dims.channels);
  check.elements(rstd, "rstd", dims.rows);
  return dims;
}

NormDims rmsnorm_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dout,
                          const Tensor& inp, const Tensor& weight, const Tensor& rstd) {
  OpCheck check("rmsnorm_backward", device);
  check.require(dout, "dout", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  check.require(rstd, "rstd", f32);
  NormDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp")};
  check.shape(weight, "weight", {dims.channels});
  check.matrix(dout, "dout", dims.rows, dims.channels);
  check.elements(rstd, "rstd", dims.rows);
  if (check.optional(dinp, "dinp", f32)) check.matrix(dinp, "dinp", dims.rows, dims.channels);
  if (check.optional(dweight, "dweight", f32)) check.shape(dweight, "dweight", {dims.channels});
  return dims;
}

NormDims layernorm_forward(Device device, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                           const Tensor& inp, const Tensor& weight, const Tensor& bias, float eps) {
  OpCheck check("layernorm_forward", device);
  check.require(out, "out", f32);
  check.require(mean, "mean", f32);
  check.require(rstd, "rstd", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  check.positive_epsilon(eps);
  NormDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp")};
  check.shape(weight, "weight", {dims.channels});
  if (check.optional(bias, "bias", f32)) check.shape(bias, "bias", {dims.channels});
  check.matrix(out, "out", dims.rows, dims.channels);
  check.elements(mean, "mean", dims.rows);
  check.elements(rstd, "rstd", dims.rows);
  return dims;
}

NormDims layernorm_backward(Device device, const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                            const Tensor& dout, const Tensor& inp, const Tensor& weight, const Tensor& mean,
                            const Tensor& rstd) {
  OpCheck check("layernorm_backward", device);
  check.require(dout, "dout", f32);
  check.require(inp, "inp", f32);
  check.require(weight, "weight", f32);
  check.require(mean, "mean", f32);
  check.require(rstd, "rstd", f32);
  NormDims dims{check.rows_of(inp, "inp"), check.last_dim(inp, "inp")};
  check.shape(weight, "weight", {dims.channels});
  check.matrix(dout, "dout", dims.rows, dims.channels);
  check.elements(mean, "mean", dims.rows);
  check.elements(rstd, "rstd", dims.rows);
  if (check.optional(dinp, "dinp", f32)) check.matrix(dinp, "dinp", dims.rows, dims.channels);
  if (check.optional(dweight, "dweight", f32)) check.shape(dweight, "dweight", {dims.channels});
  if (check.optional(dbias, "dbias", f32)) check.shape(dbias, "dbias", {dims.channels});
  return dims;
}

RotaryDims rotary(Device device, const Tensor& x, const Tensor& positions, const Tensor& inv_freq) {
  OpCheck check("rotary_inplace", device);
  check.require(x, "x", f32);
  check.require(positions, "positions", i32);
  check.require(inv_freq, "inv_freq", f32);
  if (x.rank() < 2) check.fail("x is " + shape_to_string(x.shape()) + ", expected [N, heads, D]");
  RotaryDims dims;
  dims.head_size = x.shape().back();
  dims.heads = x.shape()[x.rank() - 2];
  if (dims.head_size % 2 != 0) check.fail("head size " + std::to_string(dims.head_size) + " is odd");
  dims.rows = dims.heads * dims.head_size == 0 ? 0 : x.numel() / (dims.heads * dims.head_size);
  check.elements(positions, "positions", dims.rows);
  check.elements(inv_freq, "inv_freq", dims.head_size / 2);
  return dims;
}

namespace {

AttentionDims attention_dims(const OpCheck& check, const Tensor& q, const Tensor& k, const Tensor& v) {
  if (q.rank() != 4) check.fail("q is " + shape_to_string(q.shape()) + ", expected [B, T, H, D]");
  if (k.rank() != 4) check.fail("k is " + shape_to_string(k.shape()) + ", expected [B, T, KV, D]");
  AttentionDims dims{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  check.shape(k, "k", {dims.batch, dims.sequence, dims.kv_heads, dims.head_size});
  check.shape(v, "v", k.shape());
  if (dims.kv_heads == 0 || dims.heads % dims.kv_heads != 0) {
    check.fail("query heads (" + std::to_string(dims.heads) + ") are not divisible by key/value heads (" +
               std::to_string(dims.kv_heads) + ")");
  }
  return dims;
}

// The tensors attention's forward and backward share: q, k, v, the output and its lse, doc_start.
AttentionDims attention_io(OpCheck& check, const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                           const Tensor& v, const Tensor& doc_start) {
  check.require(out, "out", f32);
  check.require(lse, "lse", f32);
  check.require(q, "q", f32);
  check.require(k, "k", f32);
  check.require(v, "v", f32);
  check.require(doc_start, "doc_start", i32);
  const AttentionDims dims = attention_dims(check, q, k, v);
  check.shape(out, "out", q.shape());
  check.shape(lse, "lse", {dims.batch, dims.heads, dims.sequence});
  check.shape(doc_start, "doc_start", {dims.batch, dims.sequence});
  return dims;
}

}  // namespace

AttentionDims attention_forward(Device device, const Tensor& out, const Tensor& lse, const Tensor& q,
                                const Tensor& k, const Tensor& v, const Tensor& doc_start) {
  OpCheck check("attention_forward", device);
  return attention_io(check, out, lse, q, k, v, doc_start);
}

AttentionDims attention_backward(Device device, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                 const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& out, const Tensor& lse, const Tensor& doc_start) {
  OpCheck check("attention_backward", device);
  const AttentionDims dims = attention_io(check, out, lse, q, k, v, doc_start);
  check.require(dout, "dout", f32);
  check.shape(dout, "dout", q.shape());
  if (check.optional(dq, "dq", f32)) check.shape(dq, "dq", q.shape());
  if (check.optional(dk, "dk", f32)) check.shape(dk, "dk", k.shape());
  if (check.optional(dv, "dv", f32)) check.shape(dv, "dv", v.shape());
  return dims;
}

AttentionDims attention_cached(Device device, const Tensor& out, const Tensor& q, const Tensor& k_cache,
                               const Tensor& v_cache, std::int64_t past) {
  OpCheck check("attention_cached", device);
  check.require(out, "out", f32);
  check.require(q, "q", f32);
  check.require(k_cache, "k_cache", f32);
  check.require(v_cache, "v_cache", f32);
  if (q.rank() != 3 || k_cache.rank() != 3) check.fail("q must be [T,H,D] and k_cache [S,KV,D]");
  AttentionDims dims;
  dims.batch = 1;
  dims.sequence = q.dim(0);
  dims.heads = q.dim(1);
  dims.head_size = q.dim(2);
  dims.kv_heads = k_cache.dim(1);
  check.shape(out, "out", q.shape());
  check.shape(v_cache, "v_cache", k_cache.shape());
  if (k_cache.dim(2) != dims.head_size) check.fail("k_cache head size differs from q's");
  if (dims.kv_heads == 0 || dims.heads % dims.kv_heads != 0) check.fail("H must be a multiple of KV");
  if (past < 0 || past + dims.sequence > k_cache.dim(0)) {
    check.fail("past (" + std::to_string(past) + ") + T (" + std::to_string(dims.sequence) +
               ") exceeds the cache's " + std::to_string(k_cache.dim(0)) + " positions");
  }
  return dims;
}

std::int64_t swiglu_forward(Device device, const Tensor& out, const Tensor& gate, const Tensor& up) {
  OpCheck check("swiglu_forward", device);
  check.require(out, "out", f32);
  check.require(gate, "gate", f32);
  check.require(up, "up", f32);
  check.elements(up, "up", gate.numel());
  check.elements(out, "out", gate.numel());
  return gate.numel();
}

std::int64_t swiglu_backward(Device device, const Tensor& dgate, const Tensor& dup, const Tensor& dout,
                             const Tensor& gate, const Tensor& up) {
  OpCheck check("swiglu_backward", device);
  check.require(dout, "dout", f32);
  check.require(gate, "gate", f32);
  check.require(up, "up", f32);
  check.elements(up, "up", gate.numel());
  check.elements(dout, "dout", gate.numel());
  if (check.optional(dgate, "dgate", f32)) check.elements(dgate, "dgate", gate.numel());
  if (check.optional(dup, "dup", f32)) check.elements(dup, "dup", gate.numel());
  return gate.numel();
}

std::int64_t gelu_forward(Device device, const Tensor& out, const Tensor& inp) {
  OpCheck check("gelu_forward", device);
  check.require(out, "out", f32);
  check.require(inp, "inp", f32);
  check.elements(out, "out", inp.numel());
  return inp.numel();
}

std::int64_t gelu_backward(Device device, const Tensor& dinp, const Tensor& dout, const Tensor& inp) {
  OpCheck check("gelu_backward", device);
  check.require(dout, "dout", f32);
  check.require(inp, "inp", f32);
  check.elements(dout, "dout", inp.numel());
  if (check.optional(dinp, "dinp", f32)) check.elements(dinp, "dinp", inp.numel());
  return inp.numel();
}

CrossEntropyDims cross_entropy_rows(Device device, const Tensor& losses, const Tensor& logits,
                                    const Tensor& targets) {
  OpCheck check("cross_entropy_rows", device);
  check.require(losses, "losses", f32);
  check.require(logits, "logits", f32);
  check.require(targets, "targets", i32);
  CrossEntropyDims dims{check.rows_of(logits, "logits"), check.last_dim(logits, "logits")};
  check.elements(targets, "targets", dims.rows);
  check.elements(losses, "losses", dims.rows);
  return dims;
}

std::int64_t adamw_step(Device device, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                        std::int64_t step) {
  OpCheck check("adamw_step", device);
  check.require(param, "param", f32);
  check.require(grad, "grad", f32);
  check.require(m, "m", f32);
  check.require(v, "v", f32);
  check.elements(grad, "grad", param.numel());
  check.elements(m, "m", param.numel());
  check.elements(v, "v", param.numel());
  if (step < 1) check.fail("step " + std::to_string(step) + " is not >= 1 (steps count from 1)");
  return param.numel();
}

}  // namespace fthost::backend::checks
