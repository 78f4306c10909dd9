// Memory and elementwise ops of the CPU backend.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/counter_random.hpp"
#include "backend/float16.hpp"
#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

FTHOST_CPU_VECTOR_CLONES
double sum_of_squares_block(const float* data, std::int64_t count) { return dot_f64(data, data, count); }

}  // namespace

void CpuBackend::fill(const Tensor& tensor, float value) {
  const std::int64_t elements = checks::fill(device(), tensor, value);
  if (tensor.dtype() != DType::f32 || (value == 0.0f && !std::signbit(value))) {
    std::memset(tensor.raw(), 0, tensor.nbytes());  // +0.0f is all-zero bits, as is every other dtype's 0
    return;
  }
  float* data = tensor.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) data[i] = value;
}

void CpuBackend::copy(const Tensor& destination, const Tensor& source) {
  checks::copy(device(), destination, source);
  if (source.nbytes() != 0) std::memmove(destination.raw(), source.raw(), source.nbytes());
}

void CpuBackend::upload(const Tensor& destination, const void* host_bytes) {
  checks::transfer(device(), destination, host_bytes, "upload");
  if (destination.nbytes() != 0) std::memcpy(destination.raw(), host_bytes, destination.nbytes());
}

void CpuBackend::download(void* host_bytes, const Tensor& source) {
  checks::transfer(device(), source, host_bytes, "download");
  if (source.nbytes() != 0) std::memcpy(host_bytes, source.raw(), source.nbytes());
}

void CpuBackend::add(const Tensor& out, const Tensor& a, const Tensor& b) {
  const std::int64_t elements = checks::add(device(), out, a, b);
  float* o = out.f32();
  const float* x = a.f32();
  const float* y = b.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) o[i] = x[i] + y[i];
}

void CpuBackend::add_inplace(const Tensor& accumulator, const Tensor& value) {
  const std::int64_t elements = checks::add_inplace(device(), accumulator, value);
  float* acc = accumulator.f32();
  const float* x = value.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) acc[i] += x[i];
}

void CpuBackend::add_bias(const Tensor& out, const Tensor& bias) {
  const std::int64_t width = checks::add_bias(device(), out, bias);
  const std::int64_t rows = width == 0 ? 0 : out.numel() / width;
  float* o = out.f32();
  const float* b = bias.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < width; ++c) o[r * width + c] += b[c];
  }
}

void CpuBackend::scale_inplace(const Tensor& tensor, float factor) {
  const std::int64_t elements = checks::unary_f32(device(), tensor, "scale_inplace");
  float* data = tensor.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) data[i] *= factor;
}

void CpuBackend::add_scaled(const Tensor& accumulator, const Tensor& value, float factor) {
  const std::int64_t elements = checks::add_inplace(device(), accumulator, value);
  float* acc = accumulator.f32();
  const float* x = value.f32();
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) acc[i] += factor * x[i];
}

void CpuBackend::dropout(const Tensor& out, const Tensor& inp, float probability, std::uint64_t seed) {
  const std::int64_t elements = checks::dropout(device(), out, inp, probability);
  float* o = out.f32();
  const float* x = inp.f32();
  // torch scales kept elements by 1 / (1 - p) in the input's dtype
  const float keep_scale = 1.0f / (1.0f - probability);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < elements; ++i) {
    const bool keep = counter_uniform(seed, static_cast<std::uint64_t>(i)) >= probability;
    o[i] = keep ? x[i] * keep_scale : 0.0f;
  }
}

void CpuBackend::round_to(const Tensor& tensor, DType dtype) {
  const std::int64_t elements = checks::unary_f32(device(), tensor, "round_to");
  if (dtype != DType::bf16 && dtype != DType::f16) {
    throw std::logic_error("round_to: " + std::string(sdk::to_string(dtype)) + " is not a 16-bit float type");
  }
  float* data = tensor.f32();
  if (dtype == DType::bf16) {
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < elements; ++i) data[i] = round_to_bf16(data[i]);
  } else {
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < elements; ++i) data[i] = round_to_f16(data[i]);
  }
}

double CpuBackend::sum_of_squares(const Tensor& tensor) {
  const std::int64_t elements = checks::unary_f32(device(), tensor, "sum_of_squares");
  const float* data = tensor.f32();
  // Partial sums over fixed blocks, added in block order: the same bits for any thread count.
  constexpr std::int64_t kBlock = 1 << 14;
  const std::int64_t blocks = (elements + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks));
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t first = block * kBlock;
    const std::int64_t count = std::min(kBlock, elements - first);
    partial[static_cast<std::size_t>(block)] = sum_of_squares_block(data + first, count);
  }
  double total = 0.0;
  for (double value : partial) total += value;
  return total;
}

void CpuBackend::copy_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) {
  // destination [N, w] = source [N, W][:, first_column : first_column + w]
  const checks::ColumnBlockDims dims = checks::column_block(device(), source, destination, first_column, "copy_columns");
  float* out = destination.f32();
  const float* in = source.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    const float* row = in + n * dims.wide_columns + first_column;
    float* out_row = out + n * dims.block_columns;
    for (std::int64_t j = 0; j < dims.block_columns; ++j) out_row[j] = row[j];
  }
}

void CpuBackend::accumulate_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) {
  // destination [N, W][:, first_column : first_column + w] += source [N, w]
  const checks::ColumnBlockDims dims =
      checks::column_block(device(), destination, source, first_column, "accumulate_columns");
  float* out = destination.f32();
  const float* in = source.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    float* row = out + n * dims.wide_columns + first_column;
    const float* in_row = in + n * dims.block_columns;
#pragma omp simd
    for (std::int64_t j = 0; j < dims.block_columns; ++j) row[j] += in_row[j];
  }
}

}  // namespace fthost::backend::cpu
