// Emulated cuBLAS: GEMM by its definition, column-major, as the cuBLAS documentation states it:
//   C = alpha op(A) op(B) + beta C,  op(A) m x k, op(B) k x n, C m x n,
//   op(X)(r, c) = X[r + c ld] (CUBLAS_OP_N) or X[c + r ld] (CUBLAS_OP_T, CUBLAS_OP_C),
//   lda >= max(1, rows of A as stored), likewise ldb, ldc >= max(1, m),
//   beta == 0: C is written without being read (NaN there does not propagate);
//   alpha == 0 or k == 0: A and B are not read.
// Each element is one f32 sum over k in order; the real library blocks and may fuse, which the
// parity tolerances allow for. Inputs are rounded as the compute type and math mode allow the
// real library to round them (TF32, bf16 or f16), so a GEMM that would run in reduced precision
// on a GPU does so here too.
//
// Checks beyond cuBLAS's: the matrices, with their leading dimensions, must lie inside device
// memory (a device fault otherwise: on a GPU, an illegal address or another tensor's data).

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <cublas_v2.h>

#include "backend/float16.hpp"
#include "fthost_cuda_emulation/emulation.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math_mode = CUBLAS_DEFAULT_MATH;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace fthost::cuda_emulation {
namespace {

enum class InputRounding { none, tf32, bf16, f16 };

float round_to_tf32(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7F800000u) == 0x7F800000u) return value;  // inf, NaN
  bits = (bits + 0x1000u) & 0xFFFFE000u;                   // nearest, ties away from zero
  return std::bit_cast<float>(bits);
}

float load(const void* base, cudaDataType type, std::int64_t index, InputRounding rounding) {
  float value = 0.0f;
  switch (type) {
    case CUDA_R_16BF:
      value = backend::bf16_bits_to_float(static_cast<const std::uint16_t*>(base)[index]);
      break;
    case CUDA_R_16F:
      value = backend::f16_bits_to_float(static_cast<const std::uint16_t*>(base)[index]);
      break;
    default:
      value = static_cast<const float*>(base)[index];
      break;
  }
  switch (rounding) {
    case InputRounding::tf32: return round_to_tf32(value);
    case InputRounding::bf16: return backend::round_to_bf16(value);
    case InputRounding::f16: return backend::round_to_f16(value);
    case InputRounding::none: break;
  }
  return value;
}

void store(void* base, cudaDataType type, std::int64_t index, float value) {
  switch (type) {
    case CUDA_R_16BF:
      static_cast<std::uint16_t*>(base)[index] = backend::float_to_bf16_bits(value);
      break;
    case CUDA_R_16F:
      static_cast<std::uint16_t*>(base)[index] = backend::float_to_f16_bits(value);
      break;
    default:
      static_cast<float*>(base)[index] = value;
      break;
  }
}

std::size_t element_bytes(cudaDataType type) { return type == CUDA_R_32F ? 4 : 2; }

struct Operand {
  const char* name;
  const void* data;
  cudaDataType type;
  cublasOperation_t op;
  int ld;
  int rows;  // of op(X)
  int cols;
  int stored_rows() const { return op == CUBLAS_OP_N ? rows : cols; }
  int stored_cols() const { return op == CUBLAS_OP_N ? cols : rows; }
  // Element (r, c) of op(X).
  std::int64_t index(int r, int c) const {
    return op == CUBLAS_OP_N ? r + static_cast<std::int64_t>(c) * ld : c + static_cast<std::int64_t>(r) * ld;
  }
};

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// A column-major matrix of `rows` x `cols` at leading dimension `ld` lies in device memory.
void check_extent(const char* call, const char* name, const void* data, int rows, int cols, int ld,
                  std::size_t bytes_per_element) {
  if (rows == 0 || cols == 0) return;
  const auto elements = static_cast<std::size_t>(cols - 1) * static_cast<std::size_t>(ld) + static_cast<std::size_t>(rows);
  if (is_device_range(data, elements * bytes_per_element)) return;
  std::ostringstream text;
  text << call << ": " << name << " (" << rows << " x " << cols << " column-major, ld " << ld << ", "
       << elements * bytes_per_element << " bytes from " << describe_pointer(data)
       << ") does not lie inside one device allocation";
  device_fault(text.str());
}

// The GEMM's inner loops read only the packed copies made under the sanitizers' eyes (and
// checked against their allocations): left uninstrumented, they run several times faster.
#if defined(__GNUC__)
#define FTHOST_EMULATION_UNCHECKED_LOOPS __attribute__((no_sanitize("address", "undefined")))
#else
#define FTHOST_EMULATION_UNCHECKED_LOOPS
#endif

// sums[c] = a_row . b_column(c) for `columns` consecutive packed columns of b, each in order over k.
FTHOST_EMULATION_UNCHECKED_LOOPS void dot_products(const float* a_row, const float* b_columns, std::size_t k,
                                                   int columns, float* sums) {
  if (columns == 4) {  // four independent sums keep the FPU busy
    for (std::size_t l = 0; l < k; ++l) {
      const float a = a_row[l];
      sums[0] += a * b_columns[l];
      sums[1] += a * b_columns[k + l];
      sums[2] += a * b_columns[2 * k + l];
      sums[3] += a * b_columns[3 * k + l];
    }
    return;
  }
  for (int c = 0; c < columns; ++c) {
    for (std::size_t l = 0; l < k; ++l) sums[c] += a_row[l] * b_columns[static_cast<std::size_t>(c) * k + l];
  }
}

struct Gemm {
  const char* call;
  cublasHandle_t handle;
  int m, n, k;
  float alpha, beta;
  Operand a, b;
  void* c;
  cudaDataType c_type;
  int ldc;
  InputRounding rounding;
};

cublasStatus_t validate(const Gemm& g) {
  if (g.handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(g.a.op) || !valid_op(g.b.op) || g.m < 0 || g.n < 0 || g.k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (g.a.ld < std::max(1, g.a.stored_rows()) || g.b.ld < std::max(1, g.b.stored_rows()) || g.ldc < std::max(1, g.m)) {
    std::ostringstream text;
    text << g.call << ": INVALID_VALUE: m " << g.m << ", n " << g.n << ", k " << g.k << ", lda " << g.a.ld
         << " (A stored " << g.a.stored_rows() << " x " << g.a.stored_cols() << "), ldb " << g.b.ld << " (B stored "
         << g.b.stored_rows() << " x " << g.b.stored_cols() << "), ldc " << g.ldc;
    report(text.str());
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (!is_valid_stream(g.handle->stream)) {
    report(std::string(g.call) + ": the handle's stream is not live");
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t run(const Gemm& g) {
  if (const cublasStatus_t status = validate(g); status != CUBLAS_STATUS_SUCCESS) return status;
  if (g.m == 0 || g.n == 0) return CUBLAS_STATUS_SUCCESS;
  const bool product = g.alpha != 0.0f && g.k > 0;
  if (!product && g.beta == 1.0f) return CUBLAS_STATUS_SUCCESS;
  check_extent(g.call, "C", g.c, g.m, g.n, g.ldc, element_bytes(g.c_type));
  // op(A) row by row and op(B) column by column, as f32 vectors along k.
  std::vector<float> a_rows, b_columns;
  if (product) {
    for (const Operand* x : {&g.a, &g.b}) {
      check_extent(g.call, x->name, x->data, x->stored_rows(), x->stored_cols(), x->ld, element_bytes(x->type));
    }
    a_rows.resize(static_cast<std::size_t>(g.m) * static_cast<std::size_t>(g.k));
    b_columns.resize(static_cast<std::size_t>(g.n) * static_cast<std::size_t>(g.k));
    for (int i = 0; i < g.m; ++i) {
      for (int l = 0; l < g.k; ++l) {
        a_rows[static_cast<std::size_t>(i) * static_cast<std::size_t>(g.k) + static_cast<std::size_t>(l)] =
            load(g.a.data, g.a.type, g.a.index(i, l), g.rounding);
      }
    }
    for (int j = 0; j < g.n; ++j) {
      for (int l = 0; l < g.k; ++l) {
        b_columns[static_cast<std::size_t>(j) * static_cast<std::size_t>(g.k) + static_cast<std::size_t>(l)] =
            load(g.b.data, g.b.type, g.b.index(l, j), g.rounding);
      }
    }
  }
  // Four columns of C at a time; this is the emulation's slowest loop.
  constexpr int kColumns = 4;
  for (int j0 = 0; j0 < g.n; j0 += kColumns) {
    const int columns = std::min(kColumns, g.n - j0);
    for (int i = 0; i < g.m; ++i) {
      float sums[kColumns] = {};
      if (product) {
        const auto k = static_cast<std::size_t>(g.k);
        dot_products(a_rows.data() + static_cast<std::size_t>(i) * k,
                     b_columns.data() + static_cast<std::size_t>(j0) * k, k, columns, sums);
      }
      for (int c = 0; c < columns; ++c) {
        const std::int64_t at = i + static_cast<std::int64_t>(j0 + c) * g.ldc;
        float result = product ? g.alpha * sums[c] : 0.0f;
        if (g.beta != 0.0f) result += g.beta * load(g.c, g.c_type, at, InputRounding::none);
        store(g.c, g.c_type, at, result);
      }
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

float scalar(const cublasContext* handle, const void* value) {
  // Host or device pointer mode: both are host-addressable here.
  (void)handle;
  return *static_cast<const float*>(value);
}

bool tf32_allowed(const cublasContext* handle) { return (handle->math_mode & 0xF) == CUBLAS_TF32_TENSOR_OP_MATH; }

}  // namespace
}  // namespace fthost::cuda_emulation

namespace emu = fthost::cuda_emulation;

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext{};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!emu::is_valid_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (stream == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int base = mode & 0xF, flags = mode & ~0xF;
  if (base > CUBLAS_TF32_TENSOR_OP_MATH || (flags & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) != 0) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
  }
  return "unknown error";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (alpha == nullptr || beta == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const emu::Gemm gemm{"cublasSgemm", handle, m, n, k,
                       emu::scalar(handle, alpha), emu::scalar(handle, beta),
                       emu::Operand{"A", A, CUDA_R_32F, transa, lda, m, k},
                       emu::Operand{"B", B, CUDA_R_32F, transb, ldb, k, n},
                       C, CUDA_R_32F, ldc,
                       emu::tf32_allowed(handle) ? emu::InputRounding::tf32 : emu::InputRounding::none};
  return emu::run(gemm);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (alpha == nullptr || beta == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (algo != CUBLAS_GEMM_DEFAULT && algo != CUBLAS_GEMM_DEFAULT_TENSOR_OP) return CUBLAS_STATUS_INVALID_VALUE;
  // The f32-compute combinations of the cuBLAS documentation's cublasGemmEx table that are emulated.
  const bool f32_compute = computeType == CUBLAS_COMPUTE_32F || computeType == CUBLAS_COMPUTE_32F_PEDANTIC ||
                           computeType == CUBLAS_COMPUTE_32F_FAST_16F || computeType == CUBLAS_COMPUTE_32F_FAST_16BF ||
                           computeType == CUBLAS_COMPUTE_32F_FAST_TF32;
  const bool input_ok = Atype == Btype && (Atype == CUDA_R_32F || Atype == CUDA_R_16F || Atype == CUDA_R_16BF);
  const bool output_ok = Ctype == CUDA_R_32F || (Ctype == Atype && Atype != CUDA_R_32F);
  if (!f32_compute || !input_ok || !output_ok) {
    emu::report("cublasGemmEx: types A " + std::to_string(Atype) + ", B " + std::to_string(Btype) + ", C " +
                std::to_string(Ctype) + " with compute type " + std::to_string(computeType) + " are not emulated");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  emu::InputRounding rounding = emu::InputRounding::none;
  if (Atype == CUDA_R_32F) {
    if (computeType == CUBLAS_COMPUTE_32F_FAST_16BF) rounding = emu::InputRounding::bf16;
    if (computeType == CUBLAS_COMPUTE_32F_FAST_16F) rounding = emu::InputRounding::f16;
    if (computeType == CUBLAS_COMPUTE_32F_FAST_TF32 ||
        (computeType == CUBLAS_COMPUTE_32F && emu::tf32_allowed(handle))) {
      rounding = emu::InputRounding::tf32;
    }
  }
  const emu::Gemm gemm{"cublasGemmEx", handle, m, n, k,
                       emu::scalar(handle, alpha), emu::scalar(handle, beta),
                       emu::Operand{"A", A, Atype, transa, lda, m, k},
                       emu::Operand{"B", B, Btype, transb, ldb, k, n},
                       C, Ctype, ldc, rounding};
  return emu::run(gemm);
}
