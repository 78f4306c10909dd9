#pragma once
// sdk::Ops on a Backend: what a strategy plugin computes with. Plugins hand back the views the
// host gave them; each is turned into a borrowed Tensor and run through the backend's op, so a
// plugin's arithmetic is the backend's arithmetic (and is checked by the same op tests).

#include <vector>

#include "backend/backend.hpp"
#include "fthost/sdk/ops.hpp"

namespace fthost::backend {

// A plugin's view of a tensor: 2-D [elements / last dim, last dim]; a vector is [1, n].
sdk::TensorRef tensor_ref(const Tensor& tensor);
// The views of `tensors`, in order (what a plugin hook receives for a site's tensors).
std::vector<sdk::TensorRef> tensor_refs(const std::vector<Tensor>& tensors);

class PluginOps final : public sdk::Ops {
 public:
  explicit PluginOps(Backend& backend) : backend_(backend) {}

  sdk::BackendKind backend() const override;
  void matmul(const sdk::TensorRef& out, const sdk::TensorRef& a, bool transpose_a, const sdk::TensorRef& b,
              bool transpose_b, float alpha, float beta) override;
  void add_scaled(const sdk::TensorRef& accumulator, const sdk::TensorRef& value, float factor) override;
  void fill(const sdk::TensorRef& tensor, float value) override;
  void fill_uniform(const sdk::TensorRef& tensor, float low, float high, std::uint64_t seed) override;
  void fill_normal(const sdk::TensorRef& tensor, float mean, float stddev, std::uint64_t seed) override;
  void dropout(const sdk::TensorRef& out, const sdk::TensorRef& input, float probability, std::uint64_t seed) override;
  void round_to(const sdk::TensorRef& tensor, sdk::DType dtype) override;
  void matmul_s8(const sdk::TensorRef& out, const sdk::TensorRef& a, const sdk::TensorRef& b) override;
  sdk::TensorRef scratch(sdk::DType dtype, std::int64_t rows, std::int64_t cols) override;

  // Frees the scratch tensors handed out since the last call; the host calls it after each hook.
  void release_scratch() { scratch_.clear(); }

 private:
  Tensor borrow(const sdk::TensorRef& ref, const char* op, const char* argument) const;
  Backend& backend_;
  std::vector<Tensor> scratch_;
};

}  // namespace fthost::backend
