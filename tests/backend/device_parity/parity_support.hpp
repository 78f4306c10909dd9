#pragma once
// The device parity suite (ggml's test-backend-ops, for fthost): every Backend op runs on the
// backend under test and on the CPU backend, the exact reference, with the same random inputs,
// and the two results must agree within the tolerance stated below for that op and dtype.
// main.cpp picks the backend under test (FTHOST_PARITY_BACKEND: "cuda", or "cpu", which runs
// the suite CPU against CPU so that the harness itself is exercised on machines without a GPU).
//
// Data moves between the host and either backend only through upload and download: device
// tensors are not host-addressable.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend_test_support.hpp"

namespace fthost::backend::parity {

// ---- the two backends (defined in main.cpp) ----

Backend& device_backend();     // the backend under test
Backend& reference_backend();  // the CPU backend
// A new instance of the backend under test, for tests that should not leave state (a recorded
// data error) in the shared one.
std::unique_ptr<Backend> make_device_backend();

// ---- tolerances ----
//
// An output passes when every element satisfies
//   |device - cpu| <= relative * max(|cpu|, floor * rms(cpu))
// where rms is the root mean square of the CPU's output tensor. relative = 0 means bit-identical
// (NaNs compare equal to NaNs whatever their payload). The floor lets outputs that are sums
// with cancellation (a gradient near 0, a GEMM entry near 0) err by a few ulp of the tensor's
// typical size instead of their own. f32 unit roundoff is u = 2^-24 ~ 6e-8; one ulp is at most
// 2u relative.
//
// Calibration: host f32 emulations of GPU-style kernels (sequential f32 sums with fused
// multiply-adds, flash-style online softmax over blocks of 64 keys, expf/tanhf/sinf/cosf/logf
// perturbed by up to 2 ulp) used at most half of each bound at the tests' sizes against the CPU
// backend (the most: cross-entropy's gradient with one sequential sum over V = 40000, 0.48;
// LayerNorm's output, 0.33; most below 0.2), while deliberate bugs (a wrong eps, seed, past,
// direction, a skipped gradient, 1e-4 of noise, bf16 ignored) each failed their test.
struct Tolerance {
  double relative = 0.0;
  double floor = 0.0;  // a fraction of rms(cpu output)
  const char* why = "";
};

namespace tolerance {

// Data movement and elementwise ops that are one IEEE operation per element (add, multiply,
// a correctly rounded conversion), or the same operations in the same order with nothing a
// compiler could fuse: fill, copy, upload/download, copy_columns, accumulate_columns, add,
// add_inplace, add_bias, scale_inplace, round_to, dropout, embedding_forward; i32 and i8 data.
inline constexpr Tolerance kExact{0.0, 0.0, "one IEEE operation per element (or none): bit-identical"};

// add_scaled (acc += factor * value) is checked against two exact answers instead: the CPU's
// (product rounded, then the sum) or one fused multiply-add, which nvcc contracts to by default.

// embedding_backward: each element receives its rows' gradients in order of n; a device that sums
// a run of equal ids before adding the old value moves one rounding per term.
inline constexpr Tolerance kEmbeddingGradient{4e-6, 1.0, "sums of the same terms, possibly associated differently"};

// silu(g) * up = g / (1 + e^-g) * up: CUDA's expf is within 2 ulp, the CPU's exp_f32 within 1;
// then a division and a product, no cancellation: under 10 ulp of each element.
inline constexpr Tolerance kSwigluForward{4e-6, 1e-3, "expf within 2 ulp + 3 roundings, relative (no cancellation)"};

// gelu_new's output and the SwiGLU gradients: a few ulp of expf/tanhf, then 1 - s, 1 + tanh(u)
// and the += into the gradient cancel, and nvcc may fuse their multiply-adds: a few ulp of the
// tensor's typical size.
inline constexpr Tolerance kActivation{8e-6, 1.0, "expf/tanhf within 2 ulp; cancelling, maybe fused, sums"};
// gelu_new's gradient has 0.5 x (1 - tanh(u)^2) k (1 + 3c x^2): where tanh(u) is within a few ulp
// of +-1 (|x| ~ 3..5), an ulp of tanh becomes ~8 ulp of the gradient.
inline constexpr Tolerance kGeluGradient{2e-5, 1.0, "1 - tanh^2 near tanh = +-1 amplifies tanhf's ulp ~8x"};

// Rotary: cosf/sinf within 2 ulp (CUDA, also for angles of thousands of radians) and 1 (glibc) of
// the same f32 angle; a cos - b sin cancels and may be fused: a few ulp of |a| + |b|.
inline constexpr Tolerance kRotary{4e-6, 1.0, "cosf/sinf within 2 ulp; a cos - b sin cancels, may be fused"};

// RMSNorm's output and rstd, LayerNorm's rstd: the CPU sums a row's squares in f64, a GPU may
// in f32 (a tree over C terms: ~log2(C) u, all terms positive); the rest are products.
inline constexpr Tolerance kNormStatistics{1e-5, 1e-3, "f32 vs f64 row sums of positive terms (~log2 C u)"};
// LayerNorm's mean and output: x - mean cancels, so the error is a few ulp of the row's values.
inline constexpr Tolerance kLayernormCentred{1e-5, 1.0, "x - mean cancels: a few ulp of the row's magnitude"};
// Norm gradients: per-row sums (dx) and per-column sums over N rows (dweight, dbias), f64 on the
// CPU, likely f32 partials on a GPU; dx's two terms cancel.
inline constexpr Tolerance kNormGradient{2e-5, 1.0, "f64 vs f32 sums over C (dx) and N (dweight); dx cancels"};

// f32 GEMM (gemm, linear, the bias gradient): oneDNN and cuBLAS split k differently; a sequential
// sum of k = 1000 products errs by ~u sqrt(k^2/2) of a term (~1.3e-6 of the output's rms,
// 4.5 sigma ~6e-6), blocked sums by far less. TF32 (10-bit mantissa) would fail this by 50x.
inline constexpr Tolerance kGemm{2e-5, 1.0, "summation order over k (oneDNN vs cuBLAS blocking); not TF32"};
// bf16 matmul precision: both round the inputs to bf16 the same way and bf16 products are exact
// in f32, so only the f32 accumulation differs; tensor cores may truncate while aligning
// (Fasi et al. 2021): a sequential truncating f32 sum at k = 1000 errs by ~7e-6 of rms. Ignoring
// bf16 (computing in f32) differs by ~9e-3 of rms, TF32 inputs by ~1e-3: the test checks that
// this tolerance tells bf16 from f32.
inline constexpr Tolerance kGemmBf16{2e-4, 1.0, "same bf16 inputs, exact products; f32 accumulation may truncate"};

// Attention forward (out, attention_cached) and lse: scores are f32 dot products over D (in order
// on the CPU, maybe fused or tiled on a GPU), softmax and value sums in f64 on the CPU and f32
// with online rescaling on a GPU.
inline constexpr Tolerance kAttention{2e-5, 1.0, "f32 scores; f64 vs online-f32 softmax and value sums"};
inline constexpr Tolerance kAttentionLse{1e-5, 1.0, "max + log(sum) with the sum in f64 vs f32"};
// Attention gradients: sums over up to T keys or queries (and the group's heads) of recomputed
// probabilities times (dp - delta), which cancels; f64 on the CPU, f32 on a GPU.
inline constexpr Tolerance kAttentionGradient{5e-5, 1.0, "sums over T of p (dp - delta), which cancels; f64 vs f32"};

// Cross-entropy: loss = max + log(sum e^(x - max)) - x[target], the sum over V in f64 (CPU) or
// f32 (GPU, ~log2(V) u for a tree), losses ~log V; gradients are probabilities (relative error
// of expf plus the sum's: up to ~1e-5 for one sequential f32 sum over V = 40000) times the scale,
// and p - 1 at the target.
inline constexpr Tolerance kLoss{4e-6, 1.0, "sum over V in f64 vs f32; logf, expf within 1-2 ulp"};
inline constexpr Tolerance kLossGradient{2e-5, 1e-3, "each probability relative: expf 2 ulp + the sum's error"};

// AdamW: sqrtf and the divisions are correctly rounded on both, but nvcc may fuse the moments'
// multiply-adds (m + w (g - m), v b2 + (1 - b2) g g): an ulp per step, over several steps.
inline constexpr Tolerance kAdamW{2e-6, 1.0, "fused multiply-adds in the moments: ~1 ulp per step"};

// sum_of_squares returns f64: every f32 square is exact in f64 (48-bit products) and only the
// order of additions differs: <= n 2^-53 relative, ~3e-11 at n = 3 * 10^5 positive terms.
inline constexpr double kSumOfSquaresRelative = 1e-9;

}  // namespace tolerance

// ---- tensors on both backends ----

enum class Side { device, reference };

inline Backend& backend_of(Side side) { return side == Side::device ? device_backend() : reference_backend(); }

// One logical tensor held twice, with the same contents: on the device and on the CPU. An empty
// Twin holds two undefined tensors: a gradient output that is not wanted.
struct Twin {
  Tensor device;
  Tensor reference;
  const Tensor& operator[](Side side) const { return side == Side::device ? device : reference; }
};

inline Twin not_wanted() { return {}; }

// Runs op(backend, side) on the device, then on the CPU. Tests index their Twins with `side`,
// so both backends receive the same arguments by construction.
template <typename Op>
void on_both(Op&& op) {
  op(device_backend(), Side::device);
  op(reference_backend(), Side::reference);
}

template <typename T>
Twin twin(const Shape& shape, const std::vector<T>& contents, DType dtype) {
  Twin result{device_backend().empty(dtype, shape), reference_backend().empty(dtype, shape)};
  REQUIRE(static_cast<std::size_t>(result.device.numel()) == contents.size());
  device_backend().upload(result.device, contents.data());
  reference_backend().upload(result.reference, contents.data());
  return result;
}
inline Twin twin(const Shape& shape, const std::vector<float>& contents) { return twin(shape, contents, DType::f32); }
inline Twin twin(const Shape& shape, const std::vector<std::int32_t>& contents) {
  return twin(shape, contents, DType::i32);
}
inline Twin twin(const Shape& shape, const std::vector<std::int8_t>& contents) {
  return twin(shape, contents, DType::i8);
}

// Uniform in [low, high): inputs, and gradient buffers pre-filled so that += is tested.
inline Twin random_twin(const Shape& shape, std::mt19937& rng, float low = -1.0f, float high = 1.0f) {
  return twin(shape, test::random_values(shape_elements(shape), rng, low, high));
}

inline Twin filled_twin(const Shape& shape, float value) {
  return twin(shape, std::vector<float>(static_cast<std::size_t>(shape_elements(shape)), value));
}

// Integers uniform in [low, high] (token ids, targets, int8 matrices).
template <typename T = std::int32_t>
std::vector<T> random_integers(std::int64_t count, std::int64_t low, std::int64_t high, std::mt19937& rng) {
  std::uniform_int_distribution<std::int64_t> distribution(low, high);
  std::vector<T> result(static_cast<std::size_t>(count));
  for (T& value : result) value = static_cast<T>(distribution(rng));
  return result;
}

template <typename T>
std::vector<T> download_as(Backend& backend, const Tensor& tensor) {
  std::vector<T> result(static_cast<std::size_t>(tensor.numel()));
  backend.download(result.data(), tensor);
  return result;
}
// One side's contents of an f32 Twin.
inline std::vector<float> values(const Twin& tensor, Side side) {
  return download_as<float>(backend_of(side), tensor[side]);
}

// Both backends' matmul precision for one scope; back to f32 when it ends.
class MatmulPrecision {
 public:
  explicit MatmulPrecision(DType dtype) {
    device_backend().set_matmul_precision(dtype);
    reference_backend().set_matmul_precision(dtype);
  }
  ~MatmulPrecision() {
    device_backend().set_matmul_precision(DType::f32);
    reference_backend().set_matmul_precision(DType::f32);
  }
  MatmulPrecision(const MatmulPrecision&) = delete;
  MatmulPrecision& operator=(const MatmulPrecision&) = delete;
};

// ---- comparison ----

// Root mean square of the finite elements.
inline double rms_of(const std::vector<float>& elements) {
  double sum = 0.0;
  std::size_t count = 0;
  for (float value : elements) {
    if (!std::isfinite(value)) continue;
    sum += static_cast<double>(value) * static_cast<double>(value);
    ++count;
  }
  return count == 0 ? 0.0 : std::sqrt(sum / static_cast<double>(count));
}

inline bool same_value_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

struct Comparison {
  double worst_ratio = 0.0;  // max of |device - cpu| / bound; infinite where no bound covers it (NaN, exact)
  std::size_t worst_index = 0;
  std::size_t failures = 0;  // elements with ratio > 1
};

inline Comparison compare(const std::vector<float>& device, const std::vector<float>& reference,
                          const Tolerance& tolerance) {
  Comparison result;
  const double floor = tolerance.floor * rms_of(reference);
  for (std::size_t i = 0; i < reference.size(); ++i) {
    double ratio = 0.0;
    if (!same_value_bits(device[i], reference[i])) {
      const double error = std::abs(static_cast<double>(device[i]) - static_cast<double>(reference[i]));
      const double bound = tolerance.relative * std::max(std::abs(static_cast<double>(reference[i])), floor);
      // NaN or infinity on one side only, or any difference where the bound is 0 (exact).
      ratio = std::isfinite(error) && bound > 0.0 ? error / bound : std::numeric_limits<double>::infinity();
    }
    if (ratio > 1.0) ++result.failures;
    if (ratio > result.worst_ratio) {
      result.worst_ratio = ratio;
      result.worst_index = i;
    }
  }
  return result;
}

// Downloads `output` from both backends and compares them element by element.
inline void check_parity(const Twin& output, const Tolerance& tolerance, const std::string& what) {
  const std::vector<float> device = values(output, Side::device);
  const std::vector<float> reference = values(output, Side::reference);
  REQUIRE_MESSAGE(device.size() == reference.size(), what);
  const Comparison result = compare(device, reference, tolerance);
  const std::size_t i = result.worst_index;
  std::ostringstream message;
  message << std::setprecision(9) << what << " " << shape_to_string(output.reference.shape()) << ": "
          << result.failures << " of " << reference.size() << " elements out of tolerance; worst [" << i
          << "]: device " << (device.empty() ? 0.0f : device[i]) << ", cpu "
          << (reference.empty() ? 0.0f : reference[i]) << ", error / bound " << result.worst_ratio << " (relative "
          << tolerance.relative << ", floor " << tolerance.floor << " x rms " << rms_of(reference) << ": "
          << tolerance.why << ")";
  INFO(message.str());
  CHECK(result.failures == 0);
}

// Integer outputs (i32) are exact.
inline void check_equal_i32(const Twin& output, const std::string& what) {
  const auto device = download_as<std::int32_t>(device_backend(), output.device);
  const auto reference = download_as<std::int32_t>(reference_backend(), output.reference);
  REQUIRE_MESSAGE(device.size() == reference.size(), what);
  std::size_t failures = 0, first = 0;
  for (std::size_t i = 0; i < device.size(); ++i) {
    if (device[i] != reference[i] && failures++ == 0) first = i;
  }
  INFO(what << ": " << failures << " of " << device.size() << " elements differ; first [" << first << "]: device "
            << (failures ? device[first] : 0) << ", cpu " << (failures ? reference[first] : 0));
  CHECK(failures == 0);
}

}  // namespace fthost::backend::parity
