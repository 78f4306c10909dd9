// GEMM and the linear layer of the CPU backend.
//
// Matrix products go through OpenBLAS's cblas_sgemm: it ships hand-written AVX2 and AVX-512
// sgemm kernels selected at run time (DYNAMIC_ARCH), reaching most of a core's f32 peak, which no
// loop of ours would. bf16 GEMM (AMX, AVX512_BF16) will come through oneDNN later, beside this.
// OpenBLAS splits the output among its threads and keeps each element's sum over k in one order,
// so repeated calls give the same bits.

#include <cblas.h>

#include <climits>
#include <stdexcept>
#include <string>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

blasint blas_dimension(std::int64_t value, const char* op) {
  if (value > INT_MAX) {
    throw std::logic_error(std::string(op) + ": dimension " + std::to_string(value) +
                           " exceeds the 32-bit BLAS interface (" + std::to_string(INT_MAX) + ")");
  }
  return static_cast<blasint>(value);
}

// c[m,n] = alpha * op(a)[m,k] @ op(b)[k,n] + beta * c, row-major with leading dimensions lda,
// ldb, ldc (elements per stored row). Handles the empty cases BLAS rejects (k = 0 with lda = 0).
void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc,
           const char* op) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              blas_dimension(m, op), blas_dimension(n, op), blas_dimension(k, op), alpha, a, blas_dimension(lda, op),
              b, blas_dimension(ldb, op), beta, c, blas_dimension(ldc, op));
}

}  // namespace

void CpuBackend::gemm(bool transpose_a, bool transpose_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                      const Tensor& c) {
  const checks::GemmDims dims = checks::gemm(device(), transpose_a, transpose_b, a, b, c);
  sgemm(transpose_a, transpose_b, dims.m, dims.n, dims.k, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta, c.f32(),
        dims.n, "gemm");
}

void CpuBackend::linear_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) {
  // out [N,OC] = inp [N,C] @ weight [OC,C]^T (+ bias [OC])
  const checks::LinearDims dims = checks::linear_forward(device(), out, inp, weight, bias);
  const std::int64_t rows = dims.rows, channels = dims.in_channels, out_channels = dims.out_channels;
  float* o = out.f32();
  sgemm(false, true, rows, out_channels, channels, 1.0f, inp.f32(), channels, weight.f32(), channels, 0.0f, o,
        out_channels, "linear_forward");
  if (!bias.defined()) return;
  const float* b = bias.f32();
#pragma omp parallel for schedule(static)
  for (std::int64_t n = 0; n < rows; ++n) {
    float* row = o + n * out_channels;
#pragma omp simd
    for (std::int64_t j = 0; j < out_channels; ++j) row[j] += b[j];
  }
}

void CpuBackend::linear_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                                 const Tensor& inp, const Tensor& weight) {
  // dinp [N,C] += dout [N,OC] @ weight [OC,C]; dweight [OC,C] += dout^T @ inp; dbias [OC] += sum_n dout
  const checks::LinearDims dims = checks::linear_backward(device(), dinp, dweight, dbias, dout, inp, weight);
  const std::int64_t rows = dims.rows, channels = dims.in_channels, out_channels = dims.out_channels;
  const float* g = dout.f32();
  if (dinp.defined()) {
    sgemm(false, false, rows, channels, out_channels, 1.0f, g, out_channels, weight.f32(), channels, 1.0f,
          dinp.f32(), channels, "linear_backward");
  }
  if (dweight.defined()) {
    sgemm(true, false, out_channels, channels, rows, 1.0f, g, out_channels, inp.f32(), channels, 1.0f,
          dweight.f32(), channels, "linear_backward");
  }
  if (dbias.defined()) {
    accumulate_column_sums(dbias.f32(), rows, out_channels,
                           [&](std::int64_t n, std::int64_t first, std::int64_t width, double* sums) {
                             const float* row = g + n * out_channels + first;
                             for (std::int64_t j = 0; j < width; ++j) sums[j] += static_cast<double>(row[j]);
                           });
  }
}

}  // namespace fthost::backend::cpu
