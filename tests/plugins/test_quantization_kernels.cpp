// The quantization plugins' SDK 3.0 hooks (quantize, dequantize, forward, backward, save, load),
// called as the host calls them (PluginOps over the CPU backend), against bitsandbytes 0.50.2 on
// the CPU (tests/fixtures/bnb: int8.json says what every int8 key holds) and against the error
// bounds bitsandbytes' own tests state (shared/reference/quant_lora.md sections 1.5, 2.1 and 6).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <numbers>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/float16.hpp"
#include "backend/plugin_ops.hpp"
#include "model/safetensors.hpp"
#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::backend::round_to_bf16;
using fthost::backend::round_to_f16;
using fthost::backend::Tensor;
using fthost::backend::tensor_ref;
using fthost::model::SafetensorsFile;
using fthost::plugins::Int8QuantizationStrategy;
using fthost::plugins::Nf4QuantizationStrategy;
using fthost::sdk::DType;
using fthost::sdk::ErrorCategory;
using fthost::sdk::LinearSite;
using fthost::sdk::QuantizationStrategy;
using fthost::sdk::SavedTensor;
using fthost::sdk::SavedTensorView;
using fthost::sdk::TensorRef;
using fthost::testing::has_error;
using fthost::testing::linear_site;
using fthost::testing::options_from;

namespace {

using Overrides = std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>>;

Nf4QuantizationStrategy nf4_with(Overrides overrides = {}) {
  return Nf4QuantizationStrategy(options_from(fthost::plugins::quant_nf4_option_schema(), overrides));
}

Int8QuantizationStrategy int8_with(Overrides overrides = {}) {
  return Int8QuantizationStrategy(options_from(fthost::plugins::quant_int8_option_schema(), overrides));
}

SafetensorsFile open_fixture(const std::string& name) {
  auto file = SafetensorsFile::open(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/bnb" / name);
  REQUIRE_MESSAGE(file.ok(), "fixture missing: " << name);
  return std::move(file).value();
}

template <typename T>
std::vector<T> values_of(const SafetensorsFile& file, const std::string& name) {
  const fthost::model::SafetensorsTensor* tensor = file.find(name);
  REQUIRE_MESSAGE(tensor != nullptr, "fixture tensor missing: " << name);
  std::vector<T> values(static_cast<std::size_t>(tensor->element_count()));
  REQUIRE(tensor->bytes.size() == values.size() * sizeof(T));
  std::memcpy(values.data(), tensor->bytes.data(), tensor->bytes.size());
  return values;
}

std::vector<float> f16_values_of(const SafetensorsFile& file, const std::string& name) {
  std::vector<float> values;
  for (std::uint16_t bits : values_of<std::uint16_t>(file, name)) {
    values.push_back(fthost::backend::f16_bits_to_float(bits));
  }
  return values;
}

double wide(float value) { return static_cast<double>(value); }

// The spacing of f16 values at |value| (2^-24 below f16's normal range).
double f16_ulp(double value) {
  const double magnitude = std::fabs(value);
  return magnitude < 0x1p-14 ? 0x1p-24 : std::ldexp(1.0, std::ilogb(magnitude) - 10);
}

// Standard normal values from std::mt19937_64 by Box-Muller: std::normal_distribution's algorithm
// differs between standard libraries, mt19937_64's sequence is fixed by the standard.
std::vector<float> standard_normal(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  auto uniform = [&] { return (static_cast<double>(generator() >> 11) + 0.5) * 0x1p-53; };  // in (0, 1)
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    values[i] = static_cast<float>(radius * std::cos(angle));
    if (i + 1 < count) values[i + 1] = static_cast<float>(radius * std::sin(angle));
  }
  return values;
}

// The host's side of a quantized site: the CPU backend, the Ops plugins compute through, and
// the site's stored tensors allocated from site_layout().
struct Host {
  std::unique_ptr<fthost::backend::Backend> backend = fthost::backend::make_cpu_backend();
  fthost::backend::PluginOps ops{*backend};

  Tensor matrix(const std::vector<float>& values, std::int64_t cols) {
    Tensor tensor = backend->empty(DType::f32, {static_cast<std::int64_t>(values.size()) / cols, cols});
    std::memcpy(tensor.raw(), values.data(), values.size() * sizeof(float));
    return tensor;
  }
};

struct Stored {
  std::vector<Tensor> tensors;
  std::vector<TensorRef> refs;

  template <typename T>
  std::vector<T> values(std::size_t index) const {
    const T* data = tensors.at(index).data<T>();
    return {data, data + tensors[index].numel()};
  }
  std::span<const std::byte> bytes(std::size_t index) const {
    return {tensors.at(index).raw(), tensors[index].nbytes()};
  }
  template <typename T>
  void assign(std::size_t index, const std::vector<T>& values) {
    REQUIRE(values.size() * sizeof(T) == tensors.at(index).nbytes());
    std::memcpy(tensors[index].raw(), values.data(), tensors[index].nbytes());
  }
};

Stored allocate(Host& host, const QuantizationStrategy& strategy, const LinearSite& site) {
  Stored stored;
  for (const fthost::sdk::QuantizedTensor& layout : strategy.site_layout(site)) {
    stored.tensors.push_back(host.backend->empty(layout.dtype, {layout.rows, layout.cols}));
    stored.refs.push_back(tensor_ref(stored.tensors.back()));
  }
  return stored;
}

// The hooks, each followed by what the host does after a hook (freeing the plugin's scratch).
Stored quantize(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                const std::vector<float>& weight) {
  Stored stored = allocate(host, strategy, site);
  const Tensor dense = host.matrix(weight, site.in_features);
  strategy.quantize(site, tensor_ref(dense), stored.refs, host.ops);
  host.ops.release_scratch();
  return stored;
}

std::vector<float> dequantize(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                              const Stored& stored) {
  Tensor weight = host.backend->empty(DType::f32, {site.out_features, site.in_features});
  strategy.dequantize(site, stored.refs, tensor_ref(weight), host.ops);
  host.ops.release_scratch();
  return {weight.f32(), weight.f32() + weight.numel()};
}

std::vector<float> forward(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                           const Stored& stored, const std::vector<float>& input) {
  const Tensor x = host.matrix(input, site.in_features);
  Tensor y = host.backend->empty(DType::f32, {x.dim(0), site.out_features});
  strategy.forward(site, stored.refs, tensor_ref(x), tensor_ref(y), host.ops);
  host.ops.release_scratch();
  return {y.f32(), y.f32() + y.numel()};
}

// d_input += d_output @ weight, into `d_input` (the caller's starting values).
void backward(Host& host, const QuantizationStrategy& strategy, const LinearSite& site, const Stored& stored,
              const std::vector<float>& d_output, std::vector<float>& d_input) {
  const Tensor dy = host.matrix(d_output, site.out_features);
  Tensor dx = host.matrix(d_input, site.in_features);
  strategy.backward(site, stored.refs, tensor_ref(dy), tensor_ref(dx), host.ops);
  host.ops.release_scratch();
  std::memcpy(d_input.data(), dx.raw(), dx.nbytes());
}

// ---- LLM.int8() in double, from its pieces ----

// A row's int8 codes: round-half-even(x * 127 / scale), scale = the row's absmax without outliers,
// codes of the outlier columns zeroed. bitsandbytes' int8_vectorwise_quant leaves the outlier
// ELEMENTS (|x| >= threshold) out of the absmax; LLM.int8()'s paper decomposes whole outlier
// COLUMNS out, which gives another scale when a row's largest value sits in an outlier column.
enum class RowAbsmax { without_outlier_elements, without_outlier_columns };

struct ActivationCodes {
  std::vector<std::int8_t> codes;  // [tokens, in]
  std::vector<float> scales;       // [tokens]
  std::vector<std::size_t> outlier_columns;
};

ActivationCodes quantize_activation(const std::vector<float>& x, std::size_t in, double threshold, RowAbsmax rule) {
  const std::size_t tokens = x.size() / in;
  std::vector<bool> outlier(in, false);
  ActivationCodes result;
  for (std::size_t k = 0; k < in; ++k) {
    for (std::size_t t = 0; t < tokens && threshold > 0.0; ++t) {
      outlier[k] = outlier[k] || static_cast<double>(std::fabs(x[t * in + k])) >= threshold;
    }
    if (outlier[k]) result.outlier_columns.push_back(k);
  }
  for (std::size_t t = 0; t < tokens; ++t) {
    float scale = 0.0f;
    for (std::size_t k = 0; k < in; ++k) {
      const float magnitude = std::fabs(x[t * in + k]);
      const bool left_out = rule == RowAbsmax::without_outlier_columns
                                ? outlier[k]
                                : threshold > 0.0 && static_cast<double>(magnitude) >= threshold;
      if (!left_out) scale = std::max(scale, magnitude);
    }
    result.scales.push_back(scale);
    for (std::size_t k = 0; k < in; ++k) {
      const double code = std::nearbyint(static_cast<double>(x[t * in + k]) * 127.0 / static_cast<double>(scale));
      result.codes.push_back(outlier[k] ? std::int8_t{0} : static_cast<std::int8_t>(code));
    }
  }
  return result;
}

// bitsandbytes' CPU int8_mm_dequant multiplies by the literal 6.200124e-05 (int8.json), not
// 1/16129 = 6.2000124e-05 (1.8e-5 relative); the plugin uses the CPU literal.
constexpr double int8_mm_dequant_factor = 6.200124e-05;

// out[t,o] = int8_part + outlier_part, kept apart because bitsandbytes' 16-bit run rounds them
// apart: int8_part = sum_k CA[t,k] CB[o,k] * SCA[t] SCB[o] * 6.200124e-05 and outlier_part = sum
// over the outlier columns of x[t,k] * CB[o,k] SCB[o] / 127; outlier_magnitude = sum of |terms|.
struct Int8Reference {
  std::vector<double> int8_part, outlier_part, outlier_magnitude;  // [tokens, out]
};

Int8Reference llm_int8_reference(const ActivationCodes& activation, const std::vector<std::int8_t>& cb,
                                 const std::vector<float>& scb, const std::vector<float>& x, std::size_t in) {
  Int8Reference reference;
  for (std::size_t t = 0; t < activation.scales.size(); ++t) {
    for (std::size_t o = 0; o < scb.size(); ++o) {
      std::int64_t sum = 0;
      for (std::size_t k = 0; k < in; ++k) sum += std::int64_t{activation.codes[t * in + k]} * cb[o * in + k];
      double outliers = 0.0;
      double magnitude = 0.0;
      for (std::size_t k : activation.outlier_columns) {
        const double term = static_cast<double>(x[t * in + k]) * cb[o * in + k] * static_cast<double>(scb[o]) / 127.0;
        outliers += term;
        magnitude += std::fabs(term);
      }
      reference.int8_part.push_back(static_cast<double>(sum) * static_cast<double>(activation.scales[t]) *
                                    static_cast<double>(scb[o]) * int8_mm_dequant_factor);
      reference.outlier_part.push_back(outliers);
      reference.outlier_magnitude.push_back(magnitude);
    }
  }
  return reference;
}

// bitsandbytes' recorded activation quantization for a threshold ("t0" / "t6" keys of int8.json).
ActivationCodes recorded_activation(const SafetensorsFile& file, const std::string& threshold_key) {
  ActivationCodes recorded{values_of<std::int8_t>(file, "X." + threshold_key + ".CA"),
                           values_of<float>(file, "X." + threshold_key + ".SCA"), {}};
  if (threshold_key == "t6") {
    for (std::int64_t column : values_of<std::int64_t>(file, "X.t6.outlier_cols")) {
      recorded.outlier_columns.push_back(static_cast<std::size_t>(column));
    }
  }
  return recorded;
}

// An int8 site holding bitsandbytes' own CB and SCB for weight `name` ("W" [96,64], "W2" [40,64]).
struct Int8Site {
  LinearSite site;
  std::vector<std::int8_t> cb;  // [out, in]
  std::vector<float> scb;       // [out]
  std::size_t in = 0;
  std::size_t out = 0;
};

Int8Site recorded_int8_site(const SafetensorsFile& file, const std::string& name) {
  Int8Site recorded{{}, values_of<std::int8_t>(file, name + ".CB"), values_of<float>(file, name + ".SCB")};
  recorded.out = recorded.scb.size();
  recorded.in = recorded.cb.size() / recorded.out;
  recorded.site = linear_site("model.layers.0.mlp.up_proj", static_cast<std::int64_t>(recorded.in),
                              static_cast<std::int64_t>(recorded.out));
  return recorded;
}

Stored stored_from(Host& host, const Int8QuantizationStrategy& strategy, const Int8Site& recorded) {
  Stored stored = allocate(host, strategy, recorded.site);
  stored.assign(0, recorded.cb);
  stored.assign(1, recorded.scb);
  return stored;
}

}  // namespace

TEST_CASE("quant_int8: quantize stores bitsandbytes' CB and SCB, from the weight cast to fp16") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  Host host;
  for (const std::string name : {"W", "W2"}) {
    CAPTURE(name);
    const Int8Site recorded = recorded_int8_site(file, name);
    const std::vector<float> weight = values_of<float>(file, name + ".input");
    const Stored stored = quantize(host, int8_with(), recorded.site, weight);
    CHECK(stored.values<float>(1) == recorded.scb);

    const std::vector<std::int8_t> ours = stored.values<std::int8_t>(0);
    const std::vector<std::int8_t> from_f32 = values_of<std::int8_t>(file, name + ".f32.CB");
    int fp16_decided = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      // Where the fp16 cast changes bitsandbytes' code (int8.json: 57 of W, 9 of W2), ours follows it.
      if (from_f32[i] != recorded.cb[i]) ++fp16_decided;
    }
    CHECK(fp16_decided > 0);
    // Byte for byte, exact ties included: torch evaluates bitsandbytes' 127.0 / SCB as
    // SCB.reciprocal() * 127 (two f32 roundings) and so does the plugin; dividing once instead
    // rounds W[14,5] (-0.75537109375 * 127 / 1.6123046875 = -59.5 exactly) to -60, not -59.
    CHECK(ours == recorded.cb);
  }
}

TEST_CASE("quant_int8: dequantize is CB * SCB / 127, bitsandbytes' int8_vectorwise_dequant") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  Host host;
  for (const std::string name : {"W", "W2"}) {
    CAPTURE(name);
    const Int8Site recorded = recorded_int8_site(file, name);
    const Int8QuantizationStrategy strategy = int8_with();
    const std::vector<float> ours = dequantize(host, strategy, recorded.site, stored_from(host, strategy, recorded));
    const std::vector<float> theirs = values_of<float>(file, name + ".dequantized");
    REQUIRE(ours.size() == theirs.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const double exact = recorded.cb[i] * static_cast<double>(recorded.scb[i / recorded.in]) / 127.0;
      // Same f32 operations as bitsandbytes (CB * SCB, then * 7.874015718698502e-3).
      CHECK(std::fabs(static_cast<double>(ours[i] - theirs[i])) <= 1e-7 * std::fabs(static_cast<double>(theirs[i])));
      // Two f32 roundings and 1/127 in f32: within 3 half-ulps (1.8e-7) of the exact product.
      CHECK(std::fabs(static_cast<double>(ours[i]) - exact) <= 1.8e-7 * std::fabs(exact));
    }
  }
}

TEST_CASE("quant_int8: forward (compute_dtype fp16, the default) gives bitsandbytes' output at thresholds 0 and 6") {
  // MatMul8bitLt on f32 activations: codes from X.to(fp16), the int8 product rescaled in f32, the
  // outlier columns multiplied in f32 against the int8-dequantized weight columns, output in f32.
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const std::vector<float> x = values_of<float>(file, "X.input");
  Host host;
  for (const std::string name : {"W", "W2"}) {
    for (const std::string threshold_key : {"t0", "t6"}) {
      CAPTURE(name);
      CAPTURE(threshold_key);
      const Int8Site recorded = recorded_int8_site(file, name);
      const Int8QuantizationStrategy strategy = int8_with({{"llm_int8_threshold", threshold_key == "t0" ? 0.0 : 6.0}});
      const std::vector<float> ours = forward(host, strategy, recorded.site, stored_from(host, strategy, recorded), x);
      // From bitsandbytes' own activation codes (X.t0.CA / X.t6.CA, SCA, outlier columns).
      const Int8Reference reference =
          llm_int8_reference(recorded_activation(file, threshold_key), recorded.cb, recorded.scb, x, recorded.in);
      const std::vector<float> bnb = values_of<float>(file, name + "." + threshold_key + ".out");
      const std::vector<float> bnb_f16 = f16_values_of(file, name + "." + threshold_key + ".out.fp16");
      REQUIRE(ours.size() == bnb.size());
      for (std::size_t i = 0; i < ours.size(); ++i) {
        CAPTURE(i);
        const double int8_part = std::fabs(reference.int8_part[i]);
        const double magnitude = int8_part + reference.outlier_magnitude[i];
        // The same codes and scales, rescaled by the same f32 products in the same order: without
        // outliers bitsandbytes' output bit for bit; the outlier GEMM sums in its own order (seen:
        // 1.9e-7 of the terms' magnitude).
        CHECK(std::fabs(wide(ours[i]) - (reference.int8_part[i] + reference.outlier_part[i])) <= 1e-6 * magnitude);
        if (threshold_key == "t0") CHECK(ours[i] == bnb[i]);
        CHECK(std::fabs(wide(ours[i]) - wide(bnb[i])) <= 1e-6 * magnitude);
        // bitsandbytes' run on X.to(fp16) rounds the int8 part to f16, the outlier inputs and
        // weight columns to f16 (2^-11 apiece) and the sum to f16; the plugin keeps f32 throughout.
        const double against_f16 = 0.5 * f16_ulp(wide(bnb_f16[i])) + 0.5 * f16_ulp(int8_part) +
                                   0x1p-10 * reference.outlier_magnitude[i] + 1e-6 * magnitude;
        CHECK(std::fabs(wide(ours[i]) - wide(bnb_f16[i])) <= against_f16);
      }
    }
  }
}

TEST_CASE("quant_int8: forward with compute_dtype fp32 quantizes the f32 input; bitsandbytes always casts to fp16") {
  // MatMul8bitLt quantizes the activation from X.to(fp16) whatever X's dtype; the plugin with
  // compute_dtype fp32 skips the cast. Its codes then differ from bitsandbytes' wherever the cast
  // moves x * 127 / SCA across a rounding boundary, so bitsandbytes' W.t0.out is met only to
  // within the activation's quantization step (max |difference| 0.07 of outputs up to 16.6 for
  // W, 1.15 of outputs up to 169 for W2), where compute_dtype fp16 meets it to 1e-6.
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const std::vector<float> x = values_of<float>(file, "X.input");
  Host host;
  for (const std::string name : {"W", "W2"}) {
    for (const double threshold : {0.0, 6.0}) {
      CAPTURE(name);
      CAPTURE(threshold);
      const Int8Site recorded = recorded_int8_site(file, name);
      const std::size_t in = recorded.in;
      const Int8QuantizationStrategy strategy =
          int8_with({{"llm_int8_threshold", threshold}, {"compute_dtype", "fp32"}});
      const std::vector<float> ours = forward(host, strategy, recorded.site, stored_from(host, strategy, recorded), x);
      const ActivationCodes codes = quantize_activation(x, in, threshold, RowAbsmax::without_outlier_elements);
      const Int8Reference reference = llm_int8_reference(codes, recorded.cb, recorded.scb, x, in);
      const std::string threshold_key = threshold == 0.0 ? "t0" : "t6";
      const std::vector<float> bnb_scales = values_of<float>(file, "X." + threshold_key + ".SCA");
      const std::vector<float> bnb = values_of<float>(file, name + "." + threshold_key + ".out");
      for (std::size_t i = 0; i < ours.size(); ++i) {
        CAPTURE(i);
        const std::size_t t = i / recorded.out;
        const std::size_t o = i % recorded.out;
        const double magnitude = std::fabs(reference.int8_part[i]) + reference.outlier_magnitude[i];
        // LLM.int8() on the f32 values: exact int32 sums rescaled in f32, outliers by an f32 GEMM.
        CHECK(std::fabs(wide(ours[i]) - (reference.int8_part[i] + reference.outlier_part[i])) <= 1e-6 * magnitude);
        // Against bitsandbytes: each dequantized activation CA * SCA / 127 is within half a step
        // (SCA / 254) of x (bitsandbytes': of x16, itself within 2^-11 |x| of x), so the outputs
        // differ by at most sum_k |w[o,k]| ((SCA_ours + SCA_bnb) / 254 + 2^-11 |x[t,k]|).
        double bound = 1e-6 * magnitude;
        for (std::size_t k = 0; k < in; ++k) {
          if (std::ranges::find(codes.outlier_columns, k) != codes.outlier_columns.end()) continue;
          const double weight = std::fabs(recorded.cb[o * in + k] * wide(recorded.scb[o]) / 127.0);
          bound += weight * (wide(codes.scales[t] + bnb_scales[t]) / 254.0 + 0x1p-11 * std::fabs(wide(x[t * in + k])));
        }
        CHECK(std::fabs(wide(ours[i]) - wide(bnb[i])) <= bound);
      }
    }
  }
}

TEST_CASE("quant_int8: at threshold 6 the outlier columns skip int8, bringing their rows closer to X @ W^T") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const std::vector<float> x = values_of<float>(file, "X.input");
  Host host;
  for (const std::string name : {"W", "W2"}) {
    CAPTURE(name);
    const Int8Site recorded = recorded_int8_site(file, name);
    const std::size_t in = recorded.in;
    const std::size_t out = recorded.out;
    const std::vector<float> weight = values_of<float>(file, name + ".input");
    const Int8QuantizationStrategy dense_only = int8_with({{"llm_int8_threshold", 0.0}});
    const Int8QuantizationStrategy split = int8_with({{"llm_int8_threshold", 6.0}});
    const std::vector<float> at_0 =
        forward(host, dense_only, recorded.site, stored_from(host, dense_only, recorded), x);
    const std::vector<float> at_6 = forward(host, split, recorded.site, stored_from(host, split, recorded), x);
    // Rows 0-3 hold |x| >= 6 (X.input's description): at threshold 0 that value sets the row's
    // scale and coarsens every other code of the row.
    for (std::size_t t = 0; t < 4; ++t) {
      CAPTURE(t);
      double error_0 = 0.0;
      double error_6 = 0.0;
      double largest_change = 0.0;
      for (std::size_t o = 0; o < out; ++o) {
        double dense = 0.0;
        for (std::size_t k = 0; k < in; ++k) dense += wide(x[t * in + k]) * wide(weight[o * in + k]);
        error_0 += std::fabs(wide(at_0[t * out + o]) - dense) / static_cast<double>(out);
        error_6 += std::fabs(wide(at_6[t * out + o]) - dense) / static_cast<double>(out);
        largest_change = std::max(largest_change, std::fabs(wide(at_6[t * out + o]) - wide(at_0[t * out + o])));
      }
      CHECK(largest_change > 1e-2);  // far beyond rounding (outputs up to 17 for W, 169 for W2)
      CHECK(error_6 < error_0);      // mean |error| over the row: W row 3 0.078 -> 0.033
    }
  }
}

TEST_CASE("quant_int8: forward leaves the outlier elements out of a row's scale, as bitsandbytes, not whole columns") {
  // int8_vectorwise_quant zeroes the elements with |x| >= threshold before taking each row's
  // absmax: a row's value below the threshold in an outlier column still sets that row's scale
  // (its code is zeroed all the same and the value goes through the unquantized product). The
  // fixture's X cannot tell this from leaving whole outlier columns out (no row has its largest
  // value in an outlier column); this X can (row 1).
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const Int8Site recorded = recorded_int8_site(file, "W");
  const std::size_t in = recorded.in;
  const std::size_t out = recorded.out;
  std::vector<float> x = standard_normal(2 * in, 7);
  for (float& value : x) value = std::clamp(value, -1.0f, 1.0f) * 0.5f;
  x[3] = 8.0f;       // row 0: an outlier in column 3
  x[10] = 6.0f;      // row 0: exactly the threshold, an outlier (|x| >= threshold)
  x[20] = 5.99f;     // row 0: just below it, so row 0's scale
  x[in + 3] = 3.0f;  // row 1: its largest value, in outlier column 3
  Host host;
  const Int8QuantizationStrategy strategy = int8_with({{"compute_dtype", "fp32"}});
  const std::vector<float> ours = forward(host, strategy, recorded.site, stored_from(host, strategy, recorded), x);
  const ActivationCodes elements = quantize_activation(x, in, 6.0, RowAbsmax::without_outlier_elements);
  const ActivationCodes columns = quantize_activation(x, in, 6.0, RowAbsmax::without_outlier_columns);
  REQUIRE(elements.outlier_columns == std::vector<std::size_t>{3, 10});
  CHECK(elements.scales == std::vector<float>{5.99f, 3.0f});
  CHECK(columns.scales[1] <= 0.5f);
  const Int8Reference bnb_rule = llm_int8_reference(elements, recorded.cb, recorded.scb, x, in);
  const Int8Reference column_rule = llm_int8_reference(columns, recorded.cb, recorded.scb, x, in);
  double row_1_from_column_rule = 0.0;
  for (std::size_t i = 0; i < 2 * out; ++i) {
    CAPTURE(i);
    const double magnitude = std::fabs(bnb_rule.int8_part[i]) + bnb_rule.outlier_magnitude[i];
    CHECK(std::fabs(wide(ours[i]) - (bnb_rule.int8_part[i] + bnb_rule.outlier_part[i])) <= 1e-6 * magnitude);
    if (i >= out) {
      row_1_from_column_rule = std::max(
          row_1_from_column_rule, std::fabs(wide(ours[i]) - (column_rule.int8_part[i] + column_rule.outlier_part[i])));
    }
  }
  CHECK(row_1_from_column_rule > 1e-2);  // the rules differ here by far more than the tolerance
}

TEST_CASE("quant_int8: backward accumulates d_out @ (CB * SCB / 127) into d_input, as MatMul8bitLt.backward") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const Int8Site recorded = recorded_int8_site(file, "W");
  const std::size_t in = recorded.in;
  const std::size_t out = recorded.out;
  const std::vector<float> dy = values_of<float>(file, "dY");
  const std::vector<float> bnb = values_of<float>(file, "W.dX");
  const std::vector<float> bnb_f16 = f16_values_of(file, "W.dX.fp16");
  const std::vector<float> weight = values_of<float>(file, "W.dequantized");
  // sum_o |dY[t,o] W[o,k]|: the scale of each dX element's rounding.
  std::vector<double> magnitude(bnb.size(), 0.0);
  for (std::size_t i = 0; i < bnb.size(); ++i) {
    const std::size_t t = i / in;
    const std::size_t k = i % in;
    for (std::size_t o = 0; o < out; ++o) magnitude[i] += std::fabs(wide(dy[t * out + o]) * wide(weight[o * in + k]));
  }
  Host host;
  // MatMul8bitLt.backward: dX = dY @ (CB * SCB / 127) in the activations' dtype (f32 here),
  // whatever compute_dtype: the same f32 weight; two f32 GEMMs summing 96 products in their own
  // orders (2e-6 of the terms' magnitude, under the worst case 96 * 2^-24 = 5.7e-6).
  for (const std::string compute : {"fp16", "fp32"}) {
    CAPTURE(compute);
    const Int8QuantizationStrategy strategy = int8_with({{"compute_dtype", compute}});
    const Stored stored = stored_from(host, strategy, recorded);
    std::vector<float> dx(bnb.size(), 0.0f);
    backward(host, strategy, recorded.site, stored, dy, dx);
    for (std::size_t i = 0; i < dx.size(); ++i) {
      CAPTURE(i);
      CHECK(std::fabs(wide(dx[i] - bnb[i])) <= 2e-6 * magnitude[i]);
      // bitsandbytes' run on fp16 activations rounds dY and the weight (2^-11 apiece) and dX.
      CHECK(std::fabs(wide(dx[i] - bnb_f16[i])) <= 0x1p-10 * magnitude[i] + 0.5 * f16_ulp(wide(bnb_f16[i])));
    }
    // Accumulates: a second call adds as much again.
    const std::vector<float> once = dx;
    backward(host, strategy, recorded.site, stored, dy, dx);
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(std::fabs(wide(dx[i] - 2.0f * once[i])) <= 1e-6 * magnitude[i]);
  }
}

namespace {

// bitsandbytes' test_4bit_quant measures err = mean |A - A'| and relerr = mean(|A - A'| / (|A| + 1e-8)).
struct RoundTripError {
  double mean_absolute = 0.0;
  double mean_relative = 0.0;
};

RoundTripError round_trip_error(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                                const std::vector<float>& weight) {
  const std::vector<float> restored = dequantize(host, strategy, site, quantize(host, strategy, site, weight));
  RoundTripError error;
  for (std::size_t i = 0; i < weight.size(); ++i) {
    const double difference = std::fabs(wide(weight[i]) - wide(restored[i]));
    error.mean_absolute += difference;
    error.mean_relative += difference / (std::fabs(wide(weight[i])) + 1e-8);
  }
  error.mean_absolute /= static_cast<double>(weight.size());
  error.mean_relative /= static_cast<double>(weight.size());
  return error;
}

// A site's saved tensors held in memory, as a model folder's reader hands them to load().
class MemorySite final : public fthost::sdk::SavedTensorReader {
 public:
  explicit MemorySite(std::vector<SavedTensor> tensors) : tensors_(std::move(tensors)) {}

  std::optional<SavedTensorView> find(std::string_view name) const override {
    for (const SavedTensor& tensor : tensors_) {
      if (tensor.name == name) return SavedTensorView{tensor.dtype, tensor.shape, tensor.bytes};
    }
    return std::nullopt;
  }
  std::string source() const override { return "memory/model.safetensors"; }

  SavedTensor& at(std::string_view name) {
    auto found = std::ranges::find(tensors_, name, &SavedTensor::name);
    REQUIRE_MESSAGE(found != tensors_.end(), "no saved tensor " << std::string(name));
    return *found;
  }
  void erase(std::string_view name) {
    std::erase_if(tensors_, [&](const SavedTensor& tensor) { return tensor.name == name; });
  }

 private:
  std::vector<SavedTensor> tensors_;
};

// One site of a model folder's safetensors file (names relative to the site).
class FolderSite final : public fthost::sdk::SavedTensorReader {
 public:
  FolderSite(const SafetensorsFile& file, const std::string& site) : file_(file), prefix_(site + ".") {}

  std::optional<SavedTensorView> find(std::string_view name) const override {
    const fthost::model::SafetensorsTensor* tensor = file_.find(prefix_ + std::string(name));
    if (tensor == nullptr) return std::nullopt;
    return SavedTensorView{tensor->dtype, tensor->shape, tensor->bytes};
  }
  std::string source() const override { return file_.path().string(); }

  std::set<std::string> names() const {
    std::set<std::string> names;
    for (const fthost::model::SafetensorsTensor& tensor : file_.tensors()) {
      if (tensor.name.starts_with(prefix_)) names.insert(tensor.name.substr(prefix_.size()));
    }
    return names;
  }

 private:
  const SafetensorsFile& file_;
  std::string prefix_;
};

nlohmann::json quant_state(const fthost::sdk::SavedTensorReader& saved, const std::string& key) {
  std::optional<SavedTensorView> view = saved.find(key);
  REQUIRE_MESSAGE(view.has_value(), "no saved tensor " << key);
  return nlohmann::json::parse(std::string(reinterpret_cast<const char*>(view->bytes.data()), view->bytes.size()));
}

std::string messages(const fthost::sdk::Errors& errors) {
  std::string text;
  for (const fthost::sdk::Error& error : errors) text += error.message + "\n";
  return text;
}

// Loads layer 0's q_proj [64, 64] from a tiny Llama folder bitsandbytes saved
// (tests/fixtures/bnb/<folder>), saves it again and compares every tensor with the folder's:
// names, dtypes, shapes and bytes (the quant state's JSON text included).
void check_resave(const std::string& folder, const QuantizationStrategy& strategy) {
  const SafetensorsFile file = open_fixture(folder + "/model.safetensors");
  const LinearSite site = linear_site("model.layers.0.self_attn.q_proj", 64, 64);
  const FolderSite saved(file, site.name);
  CHECK(strategy.saved_quantized(site, saved));
  Host host;
  Stored stored = allocate(host, strategy, site);
  const fthost::sdk::Errors errors = strategy.load(site, saved, stored.refs);
  CHECK_MESSAGE(errors.empty(), messages(errors));
  std::set<std::string> names;
  for (const SavedTensor& tensor : strategy.save(site, stored.refs)) {
    CAPTURE(tensor.name);
    names.insert(tensor.name);
    const std::optional<SavedTensorView> theirs = saved.find(tensor.name);
    REQUIRE(theirs.has_value());
    CHECK(tensor.dtype == theirs->dtype);
    CHECK(std::ranges::equal(tensor.shape, theirs->shape));
    CHECK(std::ranges::equal(tensor.bytes, theirs->bytes));
  }
  CHECK(names == saved.names());
}

// True when `stored` holds byte for byte what `restored` holds, tensor by tensor.
bool same_bytes(const Stored& stored, const Stored& restored) {
  if (stored.tensors.size() != restored.tensors.size()) return false;
  for (std::size_t i = 0; i < stored.tensors.size(); ++i) {
    if (!std::ranges::equal(stored.bytes(i), restored.bytes(i))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("quant_nf4: quantize stores bitsandbytes' packed codes and absmax, and dequantize gives its values") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::vector<float> weight = values_of<float>(file, "gaussian.input");  // [48, 96]
  const LinearSite site = linear_site("model.layers.0.self_attn.o_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    for (const std::int64_t blocksize : {64, 128, 4096}) {
      const std::string key = "gaussian." + type + "." + std::to_string(blocksize);
      CAPTURE(key);
      const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}, {"blocksize", blocksize}});
      const Stored stored = quantize(host, strategy, site, weight);
      CHECK(stored.values<std::uint8_t>(0) == values_of<std::uint8_t>(file, key + ".codes"));
      CHECK(stored.values<float>(1) == values_of<float>(file, key + ".absmax"));
      CHECK(dequantize(host, strategy, site, stored) == values_of<float>(file, key + ".dequantized"));
    }
  }
  // compute_dtype bf16: dequantize hands the matmul those values rounded to bf16.
  const Nf4QuantizationStrategy bf16 = nf4_with({{"compute_dtype", "bf16"}});
  std::vector<float> rounded = values_of<float>(file, "gaussian.nf4.64.dequantized");
  for (float& value : rounded) value = round_to_bf16(value);
  CHECK(dequantize(host, bf16, site, quantize(host, bf16, site, weight)) == rounded);
}

TEST_CASE("quant_nf4: forward multiplies by the dequantized weight and backward accumulates d_out @ it") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::size_t in = 96;
  const std::size_t out = 48;
  const std::size_t tokens = 7;
  const LinearSite site = linear_site("model.layers.0.self_attn.o_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    CAPTURE(type);
    const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}});
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "gaussian.input"));
    const std::vector<float> weight = values_of<float>(file, "gaussian." + type + ".64.dequantized");

    // y[t,o] = sum_k x[t,k] w[o,k], against plain loops in double; 1e-5 of sum |x w| (f32 GEMM).
    const std::vector<float> x = standard_normal(tokens * in, 11);
    const std::vector<float> y = forward(host, strategy, site, stored, x);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t o = 0; o < out; ++o) {
        double sum = 0.0;
        double magnitude = 0.0;
        for (std::size_t k = 0; k < in; ++k) {
          sum += wide(x[t * in + k]) * wide(weight[o * in + k]);
          magnitude += std::fabs(wide(x[t * in + k]) * wide(weight[o * in + k]));
        }
        CHECK(std::fabs(wide(y[t * out + o]) - sum) <= 1e-5 * magnitude);
      }
    }

    // d_input[t,k] += sum_o d_out[t,o] w[o,k], onto d_input's starting values.
    const std::vector<float> dy = standard_normal(tokens * out, 12);
    const std::vector<float> start = standard_normal(tokens * in, 13);
    std::vector<float> dx = start;
    backward(host, strategy, site, stored, dy, dx);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t k = 0; k < in; ++k) {
        double sum = wide(start[t * in + k]);
        double magnitude = std::fabs(sum);
        for (std::size_t o = 0; o < out; ++o) {
          sum += wide(dy[t * out + o]) * wide(weight[o * in + k]);
          magnitude += std::fabs(wide(dy[t * out + o]) * wide(weight[o * in + k]));
        }
        CHECK(std::fabs(wide(dx[t * in + k]) - sum) <= 1e-5 * magnitude);
      }
    }
  }
}

TEST_CASE("quant_nf4: double quantization stores bitsandbytes' second level and dequantizes through it") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const LinearSite site = linear_site("model.layers.0.mlp.gate_proj", 300, 110);  // double.input's 33000 values
  const Nf4QuantizationStrategy strategy = nf4_with({{"double_quant", true}});
  const std::vector<float> theirs = values_of<float>(file, "double.dequantized");
  const std::vector<std::uint8_t> absmax_codes = values_of<std::uint8_t>(file, "double.absmax_codes");
  Host host;

  SUBCASE("quantized by the plugin") {
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "double.input"));
    CHECK(stored.values<std::uint8_t>(0) == values_of<std::uint8_t>(file, "double.codes"));
    CHECK(stored.values<float>(2) == values_of<float>(file, "double.nested_absmax"));
    CHECK(stored.values<float>(3) == values_of<float>(file, "double.offset"));
    // nf4_codec.hpp: the plugin picks the nearest dynamic-map value; bitsandbytes' CPU kernel
    // decides values within a hair of a midpoint its own way (1 of 516 here), one code apart.
    const std::vector<std::uint8_t> ours = stored.values<std::uint8_t>(1);
    REQUIRE(ours.size() == absmax_codes.size());
    std::vector<bool> same_scale(ours.size());
    int differences = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      same_scale[i] = ours[i] == absmax_codes[i];
      if (same_scale[i]) continue;
      ++differences;
      CHECK(std::abs(int{ours[i]} - int{absmax_codes[i]}) == 1);
    }
    CHECK(differences <= 2);
    // Every block whose absmax code agrees dequantizes to bitsandbytes' values exactly.
    const std::vector<float> values = dequantize(host, strategy, site, stored);
    std::size_t compared = 0;
    std::size_t equal = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!same_scale[i / 64]) continue;
      ++compared;
      if (values[i] == theirs[i]) ++equal;
    }
    CHECK(equal == compared);
    CHECK(compared >= values.size() * 99 / 100);
  }
  SUBCASE("bitsandbytes' own stored tensors") {
    // map[code] * nested_absmax[block / 256] + offset, in f32 as dequantize_blockwise: every value.
    Stored stored = allocate(host, strategy, site);
    stored.assign(0, values_of<std::uint8_t>(file, "double.codes"));
    stored.assign(1, absmax_codes);
    stored.assign(2, values_of<float>(file, "double.nested_absmax"));
    stored.assign(3, values_of<float>(file, "double.offset"));
    CHECK(dequantize(host, strategy, site, stored) == theirs);
  }
}

TEST_CASE("quant_nf4: round-trip error on randn(1024, 1024) within bitsandbytes' test_4bit_quant bounds") {
  const LinearSite site = linear_site("model.layers.0.mlp.up_proj", 1024, 1024);
  const std::vector<float> weight = standard_normal(1024 * 1024, 2024);
  Host host;
  // Limits: mean + 7 sigma of 200 runs (tests/test_functional.py; reference section 1.5).
  std::vector<RoundTripError> nf4;  // blocksizes 32, 64, ..., 4096
  for (std::int64_t blocksize = 32; blocksize <= 4096; blocksize *= 2) {
    nf4.push_back(round_trip_error(host, nf4_with({{"blocksize", blocksize}}), site, weight));
  }
  CHECK(nf4[0].mean_absolute < 0.068229);
  CHECK(nf4[0].mean_relative < 0.191854);
  CHECK(nf4[1].mean_absolute < 0.073316);
  CHECK(nf4[1].mean_relative < 0.205719);
  CHECK(nf4[2].mean_absolute < 0.077468);
  CHECK(nf4[2].mean_relative < 0.217974);
  // One scale shared by more values: the error grows with each doubling (0.0677 at 32 .. 0.0925 at 4096).
  for (std::size_t i = 1; i < nf4.size(); ++i) {
    CAPTURE(i);
    CHECK(nf4[i].mean_absolute > nf4[i - 1].mean_absolute);
    CHECK(nf4[i].mean_relative > nf4[i - 1].mean_relative);
  }
  // And it is bitsandbytes' error: within 1% of its means at 32, 64, 128, 256 and 4096 (one
  // draw of 2^20 values; its sigma is 0.1% of the mean at 32 to 128).
  CHECK(nf4[0].mean_absolute == doctest::Approx(0.067746).epsilon(0.01));
  CHECK(nf4[1].mean_absolute == doctest::Approx(0.072798).epsilon(0.01));
  CHECK(nf4[2].mean_absolute == doctest::Approx(0.076831).epsilon(0.01));
  CHECK(nf4[3].mean_absolute == doctest::Approx(0.080337).epsilon(0.01));
  CHECK(nf4[7].mean_absolute == doctest::Approx(0.092547).epsilon(0.01));

  const RoundTripError fp4 = round_trip_error(host, nf4_with({{"quant_type", "fp4"}}), site, weight);
  CHECK(fp4.mean_absolute < 0.097320);
  CHECK(fp4.mean_relative < 0.262778);
  CHECK(fp4.mean_absolute == doctest::Approx(0.096543).epsilon(0.01));

  // test_4bit_compressed_stats' bounds; the 8-bit scales cost little (reference: 0.072896 vs 0.072822).
  const RoundTripError double_quant = round_trip_error(host, nf4_with({{"double_quant", true}}), site, weight);
  CHECK(double_quant.mean_absolute < 0.11);
  CHECK(double_quant.mean_relative < 0.28);
  CHECK(double_quant.mean_absolute <= 1.005 * nf4[1].mean_absolute);
}

TEST_CASE("quant_nf4: on heavy-tailed weights NF4 errs less than FP4, and quant_int8's per-row scales less than NF4") {
  // Student's t with 3 degrees of freedom, z / sqrt(chi^2_3 / 3), from four normal draws a value.
  const std::int64_t size = 512;
  const std::vector<float> normal = standard_normal(static_cast<std::size_t>(4 * size * size), 5);
  std::vector<float> weight(static_cast<std::size_t>(size * size));
  for (std::size_t i = 0; i < weight.size(); ++i) {
    const double chi_squared = std::pow(wide(normal[4 * i + 1]), 2.0) + std::pow(wide(normal[4 * i + 2]), 2.0) +
                               std::pow(wide(normal[4 * i + 3]), 2.0);
    weight[i] = static_cast<float>(wide(normal[4 * i]) / std::sqrt(chi_squared / 3.0));
  }
  const LinearSite site = linear_site("model.layers.0.mlp.down_proj", size, size);
  Host host;
  const RoundTripError nf4 = round_trip_error(host, nf4_with(), site, weight);
  const RoundTripError fp4 = round_trip_error(host, nf4_with({{"quant_type", "fp4"}}), site, weight);
  const RoundTripError int8 = round_trip_error(host, int8_with(), site, weight);
  // Seen: NF4 0.156, FP4 0.233 (blocks of 64), int8 0.027 (256 levels per row against 16 per block).
  CHECK(nf4.mean_absolute < fp4.mean_absolute);
  CHECK(int8.mean_absolute < nf4.mean_absolute);
}

TEST_CASE("quant_nf4: save then load restores the stored tensors byte for byte, with bitsandbytes' quant state") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::vector<float> weight = values_of<float>(file, "gaussian.input");
  const LinearSite site = linear_site("model.layers.1.mlp.down_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    for (const bool double_quant : {false, true}) {
      CAPTURE(type);
      CAPTURE(double_quant);
      const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}, {"double_quant", double_quant}});
      const Stored stored = quantize(host, strategy, site, weight);
      const MemorySite saved(strategy.save(site, stored.refs));
      CHECK(strategy.saved_quantized(site, saved));
      Stored restored = allocate(host, strategy, site);
      const fthost::sdk::Errors errors = strategy.load(site, saved, restored.refs);
      CHECK_MESSAGE(errors.empty(), messages(errors));
      CHECK(same_bytes(stored, restored));

      // QuantState.as_dict(packed=True)'s non-tensor entries, as JSON.
      const nlohmann::json state = quant_state(saved, "weight.quant_state.bitsandbytes__" + type);
      std::set<std::string> keys;
      for (const auto& [key, value] : state.items()) keys.insert(key);
      std::set<std::string> expected = {"quant_type", "blocksize", "dtype", "shape"};
      if (double_quant) expected.insert({"nested_blocksize", "nested_dtype", "nested_offset"});
      CHECK(keys == expected);
      CHECK(state["quant_type"] == type);
      CHECK(state["blocksize"] == 64);
      CHECK(state["dtype"] == "float32");
      CHECK(state["shape"] == nlohmann::json::array({48, 96}));
      if (double_quant) {
        CHECK(state["nested_blocksize"] == 256);
        CHECK(state["nested_dtype"] == "float32");
        CHECK(static_cast<float>(state["nested_offset"].get<double>()) == stored.values<float>(3).at(0));
      }
    }
  }
}

TEST_CASE("quant_int8: save then load restores CB and SCB byte for byte, as Linear8bitLt's state dict") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const Int8Site recorded = recorded_int8_site(file, "W2");
  const Int8QuantizationStrategy strategy = int8_with();
  Host host;
  const Stored stored = quantize(host, strategy, recorded.site, values_of<float>(file, "W2.input"));
  const MemorySite saved(strategy.save(recorded.site, stored.refs));
  const std::optional<SavedTensorView> weight = saved.find("weight");
  const std::optional<SavedTensorView> scales = saved.find("SCB");
  const std::optional<SavedTensorView> format = saved.find("weight_format");
  REQUIRE((weight && scales && format));
  CHECK((weight->dtype == DType::i8 && std::ranges::equal(weight->shape, std::vector<std::int64_t>{40, 64})));
  CHECK((scales->dtype == DType::f32 && std::ranges::equal(scales->shape, std::vector<std::int64_t>{40})));
  CHECK((format->dtype == DType::u8 && format->shape.empty() && format->bytes.size() == 1));
  CHECK(std::to_integer<int>(format->bytes[0]) == 0);  // row-major
  CHECK(strategy.saved_quantized(recorded.site, saved));
  Stored restored = allocate(host, strategy, recorded.site);
  const fthost::sdk::Errors errors = strategy.load(recorded.site, saved, restored.refs);
  CHECK_MESSAGE(errors.empty(), messages(errors));
  CHECK(same_bytes(stored, restored));
}

TEST_CASE("quant_nf4: a site bitsandbytes saved (NF4 double-quantized, FP4) loads and saves again as it was") {
  SUBCASE("nf4, double quantization") { check_resave("tiny_llama_nf4", nf4_with({{"double_quant", true}})); }
  SUBCASE("fp4") { check_resave("tiny_llama_fp4", nf4_with({{"quant_type", "fp4"}})); }
}

TEST_CASE("quant_int8: a site bitsandbytes saved loads and saves again as it was") {
  check_resave("tiny_llama_int8", int8_with());
}

TEST_CASE("quant_nf4: load errors name the source and the tensor at fault") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const LinearSite site = linear_site("model.layers.1.mlp.down_proj", 96, 48);
  const std::string state_key = "weight.quant_state.bitsandbytes__nf4";
  const std::string where = "memory/model.safetensors: tensor '" + site.name + ".";
  Host host;
  const Nf4QuantizationStrategy nf4 = nf4_with();
  auto saved_by = [&](const Nf4QuantizationStrategy& strategy) {
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "gaussian.input"));
    return MemorySite(strategy.save(site, stored.refs));
  };
  auto load_errors = [&](const Nf4QuantizationStrategy& strategy, const MemorySite& saved) {
    Stored target = allocate(host, strategy, site);
    return strategy.load(site, saved, target.refs);
  };
  auto rewrite_state = [&](MemorySite& saved, const std::string& key, const nlohmann::json& value) {
    nlohmann::json state = quant_state(saved, state_key);
    state[key] = value;
    const std::string text = state.dump();
    SavedTensor& tensor = saved.at(state_key);
    tensor.bytes.resize(text.size());
    std::memcpy(tensor.bytes.data(), text.data(), text.size());
    tensor.shape = {static_cast<std::int64_t>(text.size())};
  };
  MemorySite saved = saved_by(nf4);
  REQUIRE(load_errors(nf4, saved).empty());

  SUBCASE("no quant state") {
    saved.erase(state_key);
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    "memory/model.safetensors: missing tensor '" + site.name + "." + state_key + "'"));
  }
  SUBCASE("another blocksize in the quant state") {
    rewrite_state(saved, "blocksize", 128);
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + state_key + "': blocksize is 128, the pipeline's blocksize is 64"));
  }
  SUBCASE("a pipeline with another blocksize") {
    CHECK(has_error(load_errors(nf4_with({{"blocksize", std::int64_t{128}}}), saved), ErrorCategory::invalid_input,
                    where + state_key + "': blocksize is 64, the pipeline's blocksize is 128"));
  }
  SUBCASE("another shape in the quant state") {
    rewrite_state(saved, "shape", nlohmann::json::array({96, 48}));
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + state_key + "': shape is [96,48], expected [48,96]"));
  }
  SUBCASE("a weight of another dtype") {
    saved.at("weight").dtype = DType::f32;
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + "weight' has dtype f32, expected u8"));
  }
  SUBCASE("a weight of another shape") {
    saved.at("weight").shape = {1152, 2};
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + "weight' has shape [1152, 2], expected [2304, 1]"));
  }
  SUBCASE("fp4 weights, an nf4 pipeline") {
    CHECK(has_error(load_errors(nf4, saved_by(nf4_with({{"quant_type", "fp4"}}))), ErrorCategory::invalid_input,
                    where + "weight.quant_state.bitsandbytes__fp4': the folder's weights are fp4"));
  }
  SUBCASE("double-quantized absmax, a pipeline without") {
    CHECK(has_error(load_errors(nf4, saved_by(nf4_with({{"double_quant", true}}))), ErrorCategory::invalid_input,
                    where + state_key + "': the folder's absmax values are double-quantized"));
  }
}

TEST_CASE("quant_int8: load errors name the source and the tensor at fault") {
  const SafetensorsFile file = open_fixture("int8.safetensors");
  const Int8Site recorded = recorded_int8_site(file, "W2");
  const Int8QuantizationStrategy strategy = int8_with();
  const std::string where = "memory/model.safetensors: tensor '" + recorded.site.name + ".";
  Host host;
  MemorySite saved(strategy.save(recorded.site, stored_from(host, strategy, recorded).refs));
  auto load_errors = [&] {
    Stored target = allocate(host, strategy, recorded.site);
    return strategy.load(recorded.site, saved, target.refs);
  };
  REQUIRE(load_errors().empty());

  SUBCASE("no SCB") {
    saved.erase("SCB");
    CHECK(has_error(load_errors(), ErrorCategory::invalid_input,
                    "memory/model.safetensors: missing tensor '" + recorded.site.name + ".SCB'"));
  }
  SUBCASE("a weight of another dtype") {
    saved.at("weight").dtype = DType::u8;
    CHECK(has_error(load_errors(), ErrorCategory::invalid_input, where + "weight' has dtype u8, expected i8"));
  }
  SUBCASE("a GPU tile layout") {
    saved.at("weight_format").bytes[0] = std::byte{1};
    CHECK(has_error(load_errors(), ErrorCategory::invalid_input, where + "weight_format' is not 0"));
  }
}
