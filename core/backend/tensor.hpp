#pragma once
// Tensors: a dtype, a row-major shape and bytes on one device. Contiguous always; a view shares
// its parent's storage (reshape, or a range of rows). Storage is reference-counted and returns
// its bytes to the allocator that gave them.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/allocator.hpp"
#include "fthost/sdk/types.hpp"

namespace fthost::backend {

using sdk::DType;
using Shape = std::vector<std::int64_t>;

enum class DeviceKind : std::uint8_t { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
};

std::string to_string(const Device& device);
std::string shape_to_string(const Shape& shape);  // "[2, 24, 64]"
std::int64_t shape_elements(const Shape& shape);

// Owns one allocation.
class Storage {
 public:
  Storage(Allocator& allocator, Device device, std::size_t bytes);
  // Memory someone else owns (and keeps alive longer than this storage): never freed here.
  Storage(Device device, std::byte* borrowed, std::size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Allocator* allocator_;  // null for borrowed memory
  Device device_;
  std::size_t bytes_;
  std::byte* data_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised bytes. Throws std::bad_alloc when the allocator is out of memory.
  static Tensor empty(Allocator& allocator, Device device, DType dtype, Shape shape);
  // A tensor over memory that the caller keeps alive for the tensor's whole life (a plugin's view
  // of a host tensor, turned back into a Tensor to run a backend op on it).
  static Tensor borrow(void* data, Device device, DType dtype, Shape shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t dim(std::size_t axis) const { return shape_.at(axis); }
  std::size_t rank() const { return shape_.size(); }
  std::int64_t numel() const { return shape_elements(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * sdk::dtype_size(dtype_); }
  Device device() const { return storage_ ? storage_->device() : Device{}; }

  std::byte* raw() const { return storage_ ? storage_->data() + offset_bytes_ : nullptr; }
  template <typename T>
  T* data() const {
    return reinterpret_cast<T*>(raw());
  }
  float* f32() const;         // checks dtype == f32 (std::logic_error otherwise)
  std::int32_t* i32() const;  // checks dtype == i32
  std::span<float> f32_span() const { return {f32(), static_cast<std::size_t>(numel())}; }

  // Same bytes, another shape with the same element count.
  Tensor reshape(Shape shape) const;
  // Rows [first, first + count) of the outermost dimension.
  Tensor rows(std::int64_t first, std::int64_t count) const;

 private:
  std::shared_ptr<Storage> storage_;
  std::size_t offset_bytes_ = 0;
  DType dtype_ = DType::f32;
  Shape shape_;
};

}  // namespace fthost::backend
