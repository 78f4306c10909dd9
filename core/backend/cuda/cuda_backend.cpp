// CudaBackend: argument checks (op_checks.hpp, shared with the CPU backend), then kernel launchers
// (cuda/kernels.hpp) or cuBLAS, all queued on one stream. See cuda_backend.hpp.

#include "backend/cuda/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/device_info.hpp"
#include "backend/cuda/kernels.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend {
namespace {

namespace kernels = cuda::kernels;
using kernels::i64;

std::string describe(cudaError_t status) { return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status); }

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + " failed: " + describe(status));
}

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuBLAS ") + what + " failed: " + cublasGetStatusName(status) + ": " +
                             cublasGetStatusString(status));
  }
}

// Scratch memory for one launcher call, from the backend's allocator (cuda/kernels.hpp explains
// why returning it when the call returns is safe).
class CallScratch final : public kernels::Scratch {
 public:
  explicit CallScratch(Allocator& allocator) : allocator_(allocator) {}
  ~CallScratch() override {
    for (const Block& block : blocks_) allocator_.deallocate(block.pointer, block.bytes);
  }
  CallScratch(const CallScratch&) = delete;
  CallScratch& operator=(const CallScratch&) = delete;

  void* get(std::size_t bytes) override {
    void* pointer = allocator_.allocate(bytes);
    if (pointer == nullptr) throw std::bad_alloc();
    blocks_.push_back({pointer, bytes});
    return pointer;
  }

 private:
  struct Block {
    void* pointer;
    std::size_t bytes;
  };
  Allocator& allocator_;
  std::vector<Block> blocks_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_index_(device) {
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    allocator_ = std::make_unique<cuda::CachingDeviceAllocator>(device);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cublas(cublasCreate(&cublas_), "cublasCreate");
    check_cublas(cublasSetStream(cublas_, stream_), "cublasSetStream");
    // Default math runs f32 GEMMs in f32 (TF32 only if asked for, which fthost never does: the
    // CPU backend is the reference) and lets bf16 GEMMs use the tensor cores.
    check_cublas(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    // A host-visible flag kernels set on bad token ids, targets or doc_start (kernels.hpp).
    check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&error_flag_), sizeof(int), cudaHostAllocMapped),
               "cudaHostAlloc (error flag)");
    *error_flag_ = 0;
    check_cuda(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_error_flag_), error_flag_, 0),
               "cudaHostGetDevicePointer");
    check_cuda(cudaHostAlloc(&staging_, kStagingBytes, cudaHostAllocDefault), "cudaHostAlloc (staging buffer)");
    check_cuda(cudaEventCreateWithFlags(&staging_free_, cudaEventDisableTiming), "cudaEventCreate");
  }

  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    cudaEventDestroy(staging_free_);
    cudaFreeHost(staging_);
    cudaFreeHost(error_flag_);
    cublasDestroy(cublas_);
    cudaStreamDestroy(stream_);
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device{DeviceKind::cuda, device_index_}; }
  Allocator& allocator() override { return *allocator_; }

  // ---- memory ----
  void fill(const Tensor& tensor, float value) override {
    const i64 elements = checks::fill(device(), tensor, value);
    if (tensor.dtype() != DType::f32 || (value == 0.0f && !std::signbit(value))) {
      if (tensor.nbytes() != 0) check_cuda(cudaMemsetAsync(tensor.raw(), 0, tensor.nbytes(), stream_), "cudaMemsetAsync");
      return;
    }
    kernels::fill(tensor.f32(), elements, value, stream_);
  }

  void copy(const Tensor& destination, const Tensor& source) override {
    checks::copy(device(), destination, source);
    if (source.nbytes() == 0) return;
    check_cuda(cudaMemcpyAsync(destination.raw(), source.raw(), source.nbytes(), cudaMemcpyDeviceToDevice, stream_),
               "cudaMemcpyAsync (device to device)");
  }

  // Small uploads (a batch's ids, positions) go through a pinned staging buffer so the copy is
  // a real asynchronous DMA; large ones (weights, once) straight from pageable memory, which the
  // driver stages itself before returning.
  void upload(const Tensor& destination, const void* host_bytes) override {
    checks::transfer(device(), destination, host_bytes, "upload");
    const std::size_t bytes = destination.nbytes();
    if (bytes == 0) return;
    if (bytes <= kStagingBytes) {
      check_cuda(cudaEventSynchronize(staging_free_), "cudaEventSynchronize (staging buffer)");
      std::memcpy(staging_, host_bytes, bytes);
      check_cuda(cudaMemcpyAsync(destination.raw(), staging_, bytes, cudaMemcpyHostToDevice, stream_),
                 "cudaMemcpyAsync (upload)");
      check_cuda(cudaEventRecord(staging_free_, stream_), "cudaEventRecord");
      return;
    }
    check_cuda(cudaMemcpyAsync(destination.raw(), host_bytes, bytes, cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync (upload)");
  }

  void download(void* host_bytes, const Tensor& source) override {
    checks::transfer(device(), source, host_bytes, "download");
    if (source.nbytes() != 0) {
      check_cuda(cudaMemcpyAsync(host_bytes, source.raw(), source.nbytes(), cudaMemcpyDeviceToHost, stream_),
                 "cudaMemcpyAsync (download)");
    }
    synchronize();
  }

  // ---- elementwise ----
  void add(const Tensor& out, const Tensor& a, const Tensor& b) override {
    const i64 n = checks::add(device(), out, a, b);
    kernels::add(out.f32(), a.f32(), b.f32(), n, stream_);
  }
  void add_inplace(const Tensor& accumulator, const Tensor& value) override {
    const i64 n = checks::add_inplace(device(), accumulator, value);
    kernels::add(accumulator.f32(), accumulator.f32(), value.f32(), n, stream_);
  }
  void scale_inplace(const Tensor& tensor, float factor) override {
    const i64 n = checks::unary_f32(device(), tensor, "scale_inplace");
    kernels::scale(tensor.f32(), factor, n, stream_);
  }
  void add_scaled(const Tensor& accumulator, const Tensor& value, float factor) override {
    const i64 n = checks::add_inplace(device(), accumulator, value);
    kernels::add_scaled(accumulator.f32(), value.f32(), factor, n, stream_);
  }
  void add_bias(const Tensor& out, const Tensor& bias) override {
    const i64 width = checks::add_bias(device(), out, bias);
    const i64 rows = width == 0 ? 0 : out.numel() / width;
    kernels::add_bias(out.f32(), bias.f32(), rows, width, stream_);
  }
  void round_to(const Tensor& tensor, DType dtype) override {
    const i64 n = checks::unary_f32(device(), tensor, "round_to");
    if (dtype == DType::bf16) {
      kernels::round_to_bf16(tensor.f32(), n, stream_);
    } else if (dtype == DType::f16) {
      kernels::round_to_f16(tensor.f32(), n, stream_);
    } else {
      throw std::logic_error("round_to: " + std::string(sdk::to_string(dtype)) + " is not a 16-bit float type");
    }
  }
  void dropout(const Tensor& out, const Tensor& inp, float probability, std::uint64_t seed) override {
    const i64 n = checks::dropout(device(), out, inp, probability);
    kernels::dropout(out.f32(), inp.f32(), n, probability, seed, stream_);
  }
  double sum_of_squares(const Tensor& tensor) override {
    const i64 n = checks::unary_f32(device(), tensor, "sum_of_squares");
    if (n == 0) return 0.0;
    double total = 0.0;
    {
      CallScratch scratch(*allocator_);
      auto* result = static_cast<double*>(scratch.get(sizeof(double)));
      kernels::sum_of_squares(result, tensor.f32(), n, scratch, stream_);
      check_cuda(cudaMemcpyAsync(&total, result, sizeof(double), cudaMemcpyDeviceToHost, stream_),
                 "cudaMemcpyAsync (sum_of_squares)");
    }
    synchronize();
    return total;
  }
  void copy_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) override {
    const checks::ColumnBlockDims dims = checks::column_block(device(), source, destination, first_column, "copy_columns");
    kernels::copy_columns(destination.f32(), source.f32(), dims.rows, dims.block_columns, dims.wide_columns,
                          first_column, stream_);
  }
  void accumulate_columns(const Tensor& destination, const Tensor& source, std::int64_t first_column) override {
    const checks::ColumnBlockDims dims =
        checks::column_block(device(), destination, source, first_column, "accumulate_columns");
    kernels::accumulate_columns(destination.f32(), source.f32(), dims.rows, dims.block_columns, dims.wide_columns,
                                first_column, stream_);
  }

  // ---- GEMM ----
  void set_matmul_precision(DType dtype) override {
    if (dtype != DType::f32 && dtype != DType::bf16) {
      throw std::invalid_argument("matmul precision " + std::string(sdk::to_string(dtype)) + " is not f32 or bf16");
    }
    matmul_precision_ = dtype;
  }

  void gemm(bool transpose_a, bool transpose_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override {
    const checks::GemmDims dims = checks::gemm(device(), transpose_a, transpose_b, a, b, c);
    matmul(transpose_a, transpose_b, dims.m, dims.n, dims.k, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta,
           c.f32(), dims.n);
  }

  void gemm_s8(const Tensor& c, const Tensor& a, const Tensor& b) override {
    const checks::GemmDims dims = checks::gemm_s8(device(), c, a, b);
    kernels::gemm_s8(c.data<std::int32_t>(), a.data<std::int8_t>(), b.data<std::int8_t>(), dims.m, dims.n, dims.k,
                     stream_);
  }

  // ---- layers ----
  void embedding_forward(const Tensor& out, const Tensor& ids, const Tensor& table) override {
    const checks::EmbeddingDims dims = checks::embedding_forward(device(), out, ids, table);
    kernels::embedding_forward(out.f32(), ids.i32(), table.f32(), dims.rows, dims.vocabulary, dims.channels,
                               device_error_flag_, stream_);
  }
  void embedding_backward(const Tensor& dtable, const Tensor& ids, const Tensor& dout) override {
    const checks::EmbeddingDims dims = checks::embedding_backward(device(), dtable, ids, dout);
    if (!dtable.defined()) return;
    CallScratch scratch(*allocator_);
    kernels::embedding_backward(dtable.f32(), ids.i32(), dout.f32(), dims.rows, dims.vocabulary, dims.channels,
                                scratch, device_error_flag_, stream_);
  }

  void linear_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) override {
    const checks::LinearDims dims = checks::linear_forward(device(), out, inp, weight, bias);
    matmul(false, true, dims.rows, dims.out_channels, dims.in_channels, 1.0f, inp.f32(), dims.in_channels,
           weight.f32(), dims.in_channels, 0.0f, out.f32(), dims.out_channels);
    if (bias.defined()) kernels::add_bias(out.f32(), bias.f32(), dims.rows, dims.out_channels, stream_);
  }

  void linear_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                       const Tensor& inp, const Tensor& weight) override {
    const checks::LinearDims dims = checks::linear_backward(device(), dinp, dweight, dbias, dout, inp, weight);
    const i64 rows = dims.rows, channels = dims.in_channels, out_channels = dims.out_channels;
    if (dinp.defined()) {
      matmul(false, false, rows, channels, out_channels, 1.0f, dout.f32(), out_channels, weight.f32(), channels, 1.0f,
             dinp.f32(), channels);
    }
    if (dweight.defined()) {
      matmul(true, false, out_channels, channels, rows, 1.0f, dout.f32(), out_channels, inp.f32(), channels, 1.0f,
             dweight.f32(), channels);
    }
    if (dbias.defined()) {
      CallScratch scratch(*allocator_);
      kernels::column_sums_accumulate(dbias.f32(), dout.f32(), rows, out_channels, scratch, stream_);
    }
  }

  void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& inp, const Tensor& weight,
                       float eps) override {
    const checks::NormDims dims = checks::rmsnorm_forward(device(), out, rstd, inp, weight, eps);
    kernels::rmsnorm_forward(out.f32(), rstd.f32(), inp.f32(), weight.f32(), dims.rows, dims.channels, eps, stream_);
  }
  void rmsnorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dout, const Tensor& inp,
                        const Tensor& weight, const Tensor& rstd) override {
    const checks::NormDims dims = checks::rmsnorm_backward(device(), dinp, dweight, dout, inp, weight, rstd);
    CallScratch scratch(*allocator_);
    kernels::rmsnorm_backward(optional(dinp), optional(dweight), dout.f32(), inp.f32(), weight.f32(), rstd.f32(),
                              dims.rows, dims.channels, scratch, stream_);
  }
  void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                         const Tensor& weight, const Tensor& bias, float eps) override {
    const checks::NormDims dims = checks::layernorm_forward(device(), out, mean, rstd, inp, weight, bias, eps);
    kernels::layernorm_forward(out.f32(), mean.f32(), rstd.f32(), inp.f32(), weight.f32(), optional(bias), dims.rows,
                               dims.channels, eps, stream_);
  }
  void layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                          const Tensor& inp, const Tensor& weight, const Tensor& mean, const Tensor& rstd) override {
    const checks::NormDims dims =
        checks::layernorm_backward(device(), dinp, dweight, dbias, dout, inp, weight, mean, rstd);
    CallScratch scratch(*allocator_);
    kernels::layernorm_backward(optional(dinp), optional(dweight), optional(dbias), dout.f32(), inp.f32(),
                                weight.f32(), mean.f32(), rstd.f32(), dims.rows, dims.channels, scratch, stream_);
  }

  void rotary_inplace(const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
                      RotaryDirection direction) override {
    const checks::RotaryDims dims = checks::rotary(device(), x, positions, inv_freq);
    kernels::rotary(x.f32(), positions.i32(), inv_freq.f32(), dims.rows, dims.heads, dims.head_size,
                    direction == RotaryDirection::inverse, stream_);
  }

  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& doc_start, float scale) override {
    const checks::AttentionDims d = checks::attention_forward(device(), out, lse, q, k, v, doc_start);
    kernels::attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), doc_start.i32(), d.batch, d.sequence,
                               d.heads, d.kv_heads, d.head_size, scale, device_error_flag_, stream_);
  }
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          const Tensor& doc_start, float scale) override {
    const checks::AttentionDims d =
        checks::attention_backward(device(), dq, dk, dv, dout, q, k, v, out, lse, doc_start);
    CallScratch scratch(*allocator_);
    kernels::attention_backward(optional(dq), optional(dk), optional(dv), dout.f32(), q.f32(), k.f32(), v.f32(),
                                out.f32(), lse.f32(), doc_start.i32(), d.batch, d.sequence, d.heads, d.kv_heads,
                                d.head_size, scale, scratch, device_error_flag_, stream_);
  }
  void attention_cached(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        std::int64_t past, float scale) override {
    const checks::AttentionDims d = checks::attention_cached(device(), out, q, k_cache, v_cache, past);
    kernels::attention_cached(out.f32(), q.f32(), k_cache.f32(), v_cache.f32(), d.sequence, d.heads, d.kv_heads,
                              d.head_size, past, scale, stream_);
  }

  void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) override {
    const i64 n = checks::swiglu_forward(device(), out, gate, up);
    kernels::swiglu_forward(out.f32(), gate.f32(), up.f32(), n, stream_);
  }
  void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                       const Tensor& up) override {
    const i64 n = checks::swiglu_backward(device(), dgate, dup, dout, gate, up);
    kernels::swiglu_backward(optional(dgate), optional(dup), dout.f32(), gate.f32(), up.f32(), n, stream_);
  }
  void gelu_forward(const Tensor& out, const Tensor& inp) override {
    const i64 n = checks::gelu_forward(device(), out, inp);
    kernels::gelu_forward(out.f32(), inp.f32(), n, stream_);
  }
  void gelu_backward(const Tensor& dinp, const Tensor& dout, const Tensor& inp) override {
    const i64 n = checks::gelu_backward(device(), dinp, dout, inp);
    if (!dinp.defined()) return;
    kernels::gelu_backward(dinp.f32(), dout.f32(), inp.f32(), n, stream_);
  }

  void cross_entropy_rows(const Tensor& losses, const Tensor& logits, const Tensor& targets,
                          float gradient_scale) override {
    const checks::CrossEntropyDims dims = checks::cross_entropy_rows(device(), losses, logits, targets);
    kernels::cross_entropy_rows(losses.f32(), logits.f32(), targets.i32(), dims.rows, dims.vocabulary, gradient_scale,
                                device_error_flag_, stream_);
  }

  // ---- optimizer ----
  void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                  double beta2, double eps, double weight_decay, std::int64_t step) override {
    const i64 n = checks::adamw_step(device(), param, grad, m, v, step);
    // The scalars exactly as cpu_optimizer.cpp derives them (torch's order, in f64).
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    kernels::AdamWScalars scalars;
    scalars.decay = static_cast<float>(1.0 - lr * weight_decay);
    scalars.lerp_weight = static_cast<float>(1.0 - beta1);
    scalars.beta2 = static_cast<float>(beta2);
    scalars.square_weight = static_cast<float>(1.0 - beta2);
    scalars.negative_step_size = static_cast<float>(-(lr / bias_correction1));
    scalars.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
    scalars.eps = static_cast<float>(eps);
    kernels::adamw_step(param.f32(), grad.f32(), m.f32(), v.f32(), n, scalars, stream_);
  }

 private:
  static constexpr std::size_t kStagingBytes = std::size_t{4} << 20;

  static float* optional(const Tensor& tensor) { return tensor.defined() ? tensor.f32() : nullptr; }

  // Waits for the stream; raises what the kernels recorded (bad data indices) or the device
  // reported (a fault) since the last synchronisation.
  void synchronize() {
    check_cuda(cudaStreamSynchronize(stream_), "stream synchronisation (an earlier kernel faulted)");
    const int code = *error_flag_;
    if (code == 0) return;
    *error_flag_ = 0;
    switch (code) {
      case kernels::kErrorTokenId:
        throw std::out_of_range("embedding: a token id is outside the vocabulary (found on the GPU)");
      case kernels::kErrorTarget:
        throw std::out_of_range("cross_entropy_rows: a target is outside [0, vocabulary) and not -100 (found on the GPU)");
      case kernels::kErrorDocStart:
        throw std::out_of_range("attention: a doc_start value is outside [0, t] (found on the GPU)");
      default:
        throw std::out_of_range("a CUDA kernel reported data error code " + std::to_string(code));
    }
  }

  // c[m,n] = alpha * op(a) @ op(b) + beta * c, all row-major. cuBLAS is column-major: a row-major
  // matrix is its transpose in column-major terms, so c^T = op(b)^T op(a)^T is computed instead.
  void matmul(bool transpose_a, bool transpose_b, i64 m, i64 n, i64 k, float alpha, const float* a, i64 lda,
              const float* b, i64 ldb, float beta, float* c, i64 ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {  // op(a) @ op(b) is zero: c = beta * c, as BLAS defines it
      if (beta == 0.0f) {
        kernels::fill(c, m * n, 0.0f, stream_);
      } else if (beta != 1.0f) {
        kernels::scale(c, beta, m * n, stream_);
      }
      return;
    }
    const cublasOperation_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (matmul_precision_ == DType::bf16) {
      // Inputs rounded to bf16, products summed in f32 into the f32 output (a GPU bf16 GEMM).
      CallScratch scratch(*allocator_);
      const i64 a_elements = m * k, b_elements = k * n;
      auto* a16 = static_cast<std::uint16_t*>(scratch.get(static_cast<std::size_t>(a_elements) * 2));
      auto* b16 = static_cast<std::uint16_t*>(scratch.get(static_cast<std::size_t>(b_elements) * 2));
      kernels::to_bf16(a16, a, a_elements, stream_);
      kernels::to_bf16(b16, b, b_elements, stream_);
      check_cublas(cublasGemmEx(cublas_, op_b, op_a, to_int(n), to_int(m), to_int(k), &alpha, b16, CUDA_R_16BF,
                                to_int(ldb), a16, CUDA_R_16BF, to_int(lda), &beta, c, CUDA_R_32F, to_int(ldc),
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx (bf16)");
      return;
    }
    check_cublas(cublasSgemm(cublas_, op_b, op_a, to_int(n), to_int(m), to_int(k), &alpha, b, to_int(ldb), a,
                             to_int(lda), &beta, c, to_int(ldc)),
                 "cublasSgemm");
  }

  static int to_int(i64 value) {
    if (value > 2147483647) throw std::length_error("GEMM dimension " + std::to_string(value) + " exceeds cuBLAS's int range");
    return static_cast<int>(value);
  }

  int device_index_;
  std::unique_ptr<cuda::CachingDeviceAllocator> allocator_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int* error_flag_ = nullptr;         // host view
  int* device_error_flag_ = nullptr;  // the kernels' view of the same int
  void* staging_ = nullptr;
  cudaEvent_t staging_free_ = nullptr;
  DType matmul_precision_ = DType::f32;
};

}  // namespace

std::string cuda_backend_problem(int device) {
  const cuda::CudaInventory inventory = cuda::query_cuda_devices();
  if (inventory.devices.empty()) {
    return "no CUDA device (" + (inventory.problem.empty() ? std::string("none found") : inventory.problem) + ")";
  }
  if (device < 0 || device >= static_cast<int>(inventory.devices.size())) {
    return "no CUDA device " + std::to_string(device) + " (found " + std::to_string(inventory.devices.size()) + ")";
  }
  // Proves that this build carries code for the device's architecture.
  const std::string smoke = cuda::run_smoke_kernel(device);
  if (!smoke.empty()) {
    const cuda::DeviceInfo& info = inventory.devices[static_cast<std::size_t>(device)];
    return "CUDA device " + std::to_string(device) + " (" + info.name + ", compute capability " +
           std::to_string(info.compute_capability_major) + "." + std::to_string(info.compute_capability_minor) +
           ") cannot run this build's kernels: " + smoke;
  }
  return {};
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  if (std::string problem = cuda_backend_problem(device); !problem.empty()) throw std::runtime_error(problem);
  return std::make_unique<CudaBackend>(device);
}

}  // namespace fthost::backend
