// The few Backend members that every device shares.

#include "backend/backend.hpp"

namespace fthost::backend {

Tensor Backend::zeros(DType dtype, Shape shape) {
  Tensor tensor = empty(dtype, std::move(shape));
  fill(tensor, 0.0f);
  return tensor;
}

}  // namespace fthost::backend
