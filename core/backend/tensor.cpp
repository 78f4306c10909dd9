// Tensors and their storage. See tensor.hpp.

#include "backend/tensor.hpp"

#include <limits>
#include <new>
#include <stdexcept>

namespace fthost::backend {

std::string to_string(const Device& device) {
  return (device.kind == DeviceKind::cpu ? "cpu:" : "cuda:") + std::to_string(device.index);
}

std::string shape_to_string(const Shape& shape) {
  std::string text = "[";
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    if (axis != 0) text += ", ";
    text += std::to_string(shape[axis]);
  }
  return text + "]";
}

std::int64_t shape_elements(const Shape& shape) {
  std::int64_t elements = 1;
  for (std::int64_t extent : shape) {
    if (extent < 0) throw std::logic_error("shape " + shape_to_string(shape) + " has a negative dimension");
    if (extent != 0 && elements > std::numeric_limits<std::int64_t>::max() / extent) {
      throw std::logic_error("shape " + shape_to_string(shape) + " has more elements than int64 can count");
    }
    elements *= extent;
  }
  return elements;
}

Storage::Storage(Allocator& allocator, Device device, std::size_t bytes)
    : allocator_(&allocator), device_(device), bytes_(bytes), data_(static_cast<std::byte*>(allocator.allocate(bytes))) {
  if (data_ == nullptr) throw std::bad_alloc();
}

Storage::Storage(Device device, std::byte* borrowed, std::size_t bytes)
    : allocator_(nullptr), device_(device), bytes_(bytes), data_(borrowed) {}

Storage::~Storage() {
  if (allocator_ != nullptr) allocator_->deallocate(data_, bytes_);
}

Tensor Tensor::borrow(void* data, Device device, DType dtype, Shape shape) {
  if (data == nullptr) throw std::logic_error("cannot borrow a null pointer as a tensor");
  Tensor tensor;
  const auto bytes = static_cast<std::size_t>(shape_elements(shape)) * sdk::dtype_size(dtype);
  tensor.storage_ = std::make_shared<Storage>(device, static_cast<std::byte*>(data), bytes);
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  return tensor;
}

Tensor Tensor::empty(Allocator& allocator, Device device, DType dtype, Shape shape) {
  Tensor tensor;
  const std::int64_t elements = shape_elements(shape);
  const std::size_t element_bytes = sdk::dtype_size(dtype);
  if (static_cast<std::uint64_t>(elements) > std::numeric_limits<std::size_t>::max() / element_bytes) {
    throw std::logic_error("tensor " + shape_to_string(shape) + " does not fit in memory addresses");
  }
  tensor.storage_ =
      std::make_shared<Storage>(allocator, device, static_cast<std::size_t>(elements) * element_bytes);
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  return tensor;
}

float* Tensor::f32() const {
  if (dtype_ != DType::f32) {
    throw std::logic_error("tensor " + shape_to_string(shape_) + " is " + std::string(sdk::to_string(dtype_)) +
                           ", not f32");
  }
  return data<float>();
}

std::int32_t* Tensor::i32() const {
  if (dtype_ != DType::i32) {
    throw std::logic_error("tensor " + shape_to_string(shape_) + " is " + std::string(sdk::to_string(dtype_)) +
                           ", not i32");
  }
  return data<std::int32_t>();
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape_elements(shape) != numel()) {
    throw std::logic_error("cannot reshape " + shape_to_string(shape_) + " (" + std::to_string(numel()) +
                           " elements) to " + shape_to_string(shape));
  }
  Tensor view = *this;
  view.shape_ = std::move(shape);
  return view;
}

Tensor Tensor::rows(std::int64_t first, std::int64_t count) const {
  if (shape_.empty()) throw std::logic_error("rows() of a scalar tensor: it has no rows");
  if (first < 0 || count < 0 || first > shape_[0] - count) {
    throw std::logic_error("rows [" + std::to_string(first) + ", " + std::to_string(first + count) + ") of " +
                           shape_to_string(shape_) + ": out of range");
  }
  Tensor view = *this;
  const std::int64_t row_elements = shape_[0] == 0 ? 0 : numel() / shape_[0];
  view.offset_bytes_ += static_cast<std::size_t>(first * row_elements) * sdk::dtype_size(dtype_);
  view.shape_[0] = count;
  return view;
}

}  // namespace fthost::backend
