#include "backend/plugin_ops.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "backend/counter_random.hpp"

namespace fthost::backend {

sdk::TensorRef tensor_ref(const Tensor& tensor) {
  sdk::TensorRef ref;
  if (!tensor.defined()) return ref;
  ref.data = tensor.raw();
  ref.dtype = tensor.dtype();
  ref.cols = tensor.rank() == 0 ? 1 : tensor.shape().back();
  ref.rows = ref.cols == 0 ? 0 : tensor.numel() / ref.cols;
  return ref;
}

std::vector<sdk::TensorRef> tensor_refs(const std::vector<Tensor>& tensors) {
  std::vector<sdk::TensorRef> refs;
  refs.reserve(tensors.size());
  for (const Tensor& tensor : tensors) refs.push_back(tensor_ref(tensor));
  return refs;
}

Tensor PluginOps::borrow(const sdk::TensorRef& ref, const char* op, const char* argument) const {
  if (!ref.defined()) throw std::logic_error(std::string(op) + ": " + argument + " is undefined");
  if (ref.rows < 0 || ref.cols < 0) throw std::logic_error(std::string(op) + ": " + argument + " has a negative extent");
  return Tensor::borrow(ref.data, backend_.device(), ref.dtype, {ref.rows, ref.cols});
}

sdk::BackendKind PluginOps::backend() const {
  return backend_.device().kind == DeviceKind::cpu ? sdk::BackendKind::cpu : sdk::BackendKind::cuda;
}

void PluginOps::matmul(const sdk::TensorRef& out, const sdk::TensorRef& a, bool transpose_a, const sdk::TensorRef& b,
                       bool transpose_b, float alpha, float beta) {
  backend_.gemm(transpose_a, transpose_b, alpha, borrow(a, "matmul", "a"), borrow(b, "matmul", "b"), beta,
                borrow(out, "matmul", "out"));
}

void PluginOps::add_scaled(const sdk::TensorRef& accumulator, const sdk::TensorRef& value, float factor) {
  backend_.add_scaled(borrow(accumulator, "add_scaled", "accumulator"), borrow(value, "add_scaled", "value"), factor);
}

void PluginOps::fill(const sdk::TensorRef& tensor, float value) { backend_.fill(borrow(tensor, "fill", "tensor"), value); }

// Initialisation runs once per run: values are drawn on the host and uploaded, the same on every device.
void PluginOps::fill_uniform(const sdk::TensorRef& tensor, float low, float high, std::uint64_t seed) {
  Tensor target = borrow(tensor, "fill_uniform", "tensor");
  std::vector<float> values(static_cast<std::size_t>(tensor.elements()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = low + (high - low) * counter_uniform(seed, i);
  backend_.upload(target, values.data());
}

void PluginOps::fill_normal(const sdk::TensorRef& tensor, float mean, float stddev, std::uint64_t seed) {
  Tensor target = borrow(tensor, "fill_normal", "tensor");
  std::vector<float> values(static_cast<std::size_t>(tensor.elements()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>(static_cast<double>(mean) + static_cast<double>(stddev) * counter_normal(seed, i));
  }
  backend_.upload(target, values.data());
}

void PluginOps::dropout(const sdk::TensorRef& out, const sdk::TensorRef& input, float probability, std::uint64_t seed) {
  backend_.dropout(borrow(out, "dropout", "out"), borrow(input, "dropout", "input"), probability, seed);
}

void PluginOps::round_to(const sdk::TensorRef& tensor, sdk::DType dtype) {
  backend_.round_to(borrow(tensor, "round_to", "tensor"), dtype);
}

void PluginOps::matmul_s8(const sdk::TensorRef& out, const sdk::TensorRef& a, const sdk::TensorRef& b) {
  backend_.gemm_s8(borrow(out, "matmul_s8", "out"), borrow(a, "matmul_s8", "a"), borrow(b, "matmul_s8", "b"));
}

sdk::TensorRef PluginOps::scratch(sdk::DType dtype, std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0) throw std::logic_error("scratch: negative extent");
  scratch_.push_back(backend_.empty(dtype, {rows, cols}));
  return tensor_ref(scratch_.back());
}

}  // namespace fthost::backend
