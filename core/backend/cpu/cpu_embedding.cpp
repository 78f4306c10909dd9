// Token embedding lookup and its gradient on the CPU backend.

#include <algorithm>
#include <stdexcept>
#include <string>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// A token id outside the table is bad data, found before any thread starts.
void check_ids(const std::int32_t* ids, std::int64_t count, std::int64_t vocabulary, const char* op) {
  for (std::int64_t n = 0; n < count; ++n) {
    if (ids[n] < 0 || ids[n] >= vocabulary) {
      throw std::out_of_range(std::string(op) + ": ids[" + std::to_string(n) + "] = " + std::to_string(ids[n]) +
                              " is outside the table's " + std::to_string(vocabulary) + " rows");
    }
  }
}

}  // namespace

void CpuBackend::embedding_forward(const Tensor& out, const Tensor& ids, const Tensor& table) {
  // out [N,C] = table [V,C] [ids[N], :]
  const checks::EmbeddingDims dims = checks::embedding_forward(device(), out, ids, table);
  const std::int32_t* id = ids.i32();
  check_ids(id, dims.rows, dims.vocabulary, "embedding_forward");
  const std::int64_t channels = dims.channels;
  const float* t = table.f32();
  float* o = out.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < dims.rows; ++n) {
    const float* row = t + static_cast<std::int64_t>(id[n]) * channels;
    float* out_row = o + n * channels;
    for (std::int64_t c = 0; c < channels; ++c) out_row[c] = row[c];
  }
}

void CpuBackend::embedding_backward(const Tensor& dtable, const Tensor& ids, const Tensor& dout) {
  // dtable [V,C] [ids[n], :] += dout [N,C] [n, :]
  const checks::EmbeddingDims dims = checks::embedding_backward(device(), dtable, ids, dout);
  if (!dtable.defined()) return;
  const std::int32_t* id = ids.i32();
  check_ids(id, dims.rows, dims.vocabulary, "embedding_backward");
  const std::int64_t channels = dims.channels;
  const float* g = dout.f32();
  float* dt = dtable.f32();
  // Repeated ids add into the same row, so threads split the columns, not the rows: every element
  // of dtable receives its rows' gradients from one thread, in row order.
  constexpr std::int64_t kBlock = 32;
  const std::int64_t blocks = (channels + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t first = block * kBlock;
    const std::int64_t last = std::min(channels, first + kBlock);
    for (std::int64_t n = 0; n < dims.rows; ++n) {
      float* row = dt + static_cast<std::int64_t>(id[n]) * channels;
      const float* g_row = g + n * channels;
      for (std::int64_t c = first; c < last; ++c) row[c] += g_row[c];
    }
  }
}

}  // namespace fthost::backend::cpu
