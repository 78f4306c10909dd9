#pragma once
// What the bundled quantization plugins share about host tensors and saved formats: typed views
// of the host's tensors (CPU memory in this version: the plugins refuse other backends at
// validation), building saved tensors, and checking a folder's tensors against what is expected.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fthost/sdk/ops.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

template <typename T>
std::span<T> host_span(const sdk::TensorRef& tensor) {
  return {static_cast<T*>(tensor.data), static_cast<std::size_t>(tensor.elements())};
}

inline sdk::SavedTensor saved_tensor(std::string name, sdk::DType dtype, std::vector<std::int64_t> shape,
                                     const void* data, std::size_t bytes) {
  sdk::SavedTensor saved;
  saved.name = std::move(name);
  saved.dtype = dtype;
  saved.shape = std::move(shape);
  saved.bytes.resize(bytes);
  if (bytes > 0) std::memcpy(saved.bytes.data(), data, bytes);
  return saved;
}

inline std::string shape_text(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  return text + "]";
}

// "<source>: tensor '<site>.<name>'" for errors about one saved tensor.
inline std::string saved_where(const sdk::SavedTensorReader& saved, const sdk::LinearSite& site, std::string_view name) {
  return saved.source() + ": tensor '" + site.name + "." + std::string(name) + "'";
}

// The saved tensor `name` with exactly `dtype` and `shape`, or an error saying what differs.
inline sdk::Result<sdk::SavedTensorView> expect_saved(const sdk::SavedTensorReader& saved, const sdk::LinearSite& site,
                                                      std::string_view name, sdk::DType dtype,
                                                      const std::vector<std::int64_t>& shape) {
  std::optional<sdk::SavedTensorView> view = saved.find(name);
  if (!view) {
    return sdk::Error::invalid_input(saved.source() + ": missing tensor '" + site.name + "." + std::string(name) +
                                     "' of the quantized weight");
  }
  if (view->dtype != dtype) {
    return sdk::Error::invalid_input(saved_where(saved, site, name) + " has dtype " +
                                     std::string(sdk::to_string(view->dtype)) + ", expected " +
                                     std::string(sdk::to_string(dtype)));
  }
  if (!std::equal(view->shape.begin(), view->shape.end(), shape.begin(), shape.end())) {
    return sdk::Error::invalid_input(saved_where(saved, site, name) + " has shape " + shape_text(view->shape) +
                                     ", expected " + shape_text(shape));
  }
  return *view;
}

}  // namespace fthost::plugins
