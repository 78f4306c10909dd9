// GEMM and the linear layer of the CPU backend.
//
// Matrix products go through oneDNN's dnnl_sgemm (Debian's libdnnl). Why oneDNN and not OpenBLAS:
// - oneDNN JIT-compiles its kernels for the instruction sets the CPU reports (AVX-512 here), while
//   OpenBLAS 0.3.21 picks kernels by CPU model and falls back to its SSE3 "Prescott" kernels on
//   models newer than itself (Sapphire/Emerald Rapids): measured on this 2-core machine, 1024^3
//   sgemm reaches ~225 GFLOP/s with oneDNN, ~30 with Debian's OpenBLAS (~190 when forced with
//   OPENBLAS_CORETYPE=SkylakeX);
// - Debian's libdnnl threads with OpenMP (libgomp), the same pool as our loops, where
//   openblas-pthread's own threads competed with OpenMP's spinning workers for the two cores;
// - the bf16 GEMMs that come next (AMX, AVX512_BF16) are oneDNN's too.
// oneDNN partitions the output statically for a thread count, so repeated calls give the same bits.

#include <oneapi/dnnl/dnnl.h>

#include <stdexcept>
#include <string>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

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
  // dnnl_sgemm is row-major, like the rest of fthost.
  dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                    beta, c, ldc);
  if (status != dnnl_success) {
    throw std::runtime_error(std::string(op) + ": oneDNN sgemm failed with status " + std::to_string(status) + " (m " +
                             std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ")");
  }
}

}  // namespace

void CpuBackend::set_matmul_precision(DType dtype) {
  if (dtype != DType::f32 && dtype != DType::bf16) {
    throw std::invalid_argument("matmul precision " + std::string(sdk::to_string(dtype)) + " is not f32 or bf16");
  }
  matmul_precision_ = dtype;
}

void CpuBackend::matmul(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                        const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                        std::int64_t ldc, const char* op) {
  if (matmul_precision_ == DType::bf16 && m > 0 && n > 0 && k > 0) {
    if (!bf16_gemm_) bf16_gemm_ = std::make_unique<Bf16Gemm>();
    bf16_gemm_->run(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  sgemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, op);
}

void CpuBackend::gemm(bool transpose_a, bool transpose_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                      const Tensor& c) {
  const checks::GemmDims dims = checks::gemm(device(), transpose_a, transpose_b, a, b, c);
  matmul(transpose_a, transpose_b, dims.m, dims.n, dims.k, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta, c.f32(),
        dims.n, "gemm");
}

void CpuBackend::linear_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) {
  // out [N,OC] = inp [N,C] @ weight [OC,C]^T (+ bias [OC])
  const checks::LinearDims dims = checks::linear_forward(device(), out, inp, weight, bias);
  const std::int64_t rows = dims.rows, channels = dims.in_channels, out_channels = dims.out_channels;
  float* o = out.f32();
  matmul(false, true, rows, out_channels, channels, 1.0f, inp.f32(), channels, weight.f32(), channels, 0.0f, o,
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
    matmul(false, false, rows, channels, out_channels, 1.0f, g, out_channels, weight.f32(), channels, 1.0f,
          dinp.f32(), channels, "linear_backward");
  }
  if (dweight.defined()) {
    matmul(true, false, out_channels, channels, rows, 1.0f, g, out_channels, inp.f32(), channels, 1.0f,
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
