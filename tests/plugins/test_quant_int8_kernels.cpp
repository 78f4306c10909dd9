// quant_int8's SDK 3.0 hooks (quantize, dequantize, forward, backward, save, load), called as the
// host calls them, against bitsandbytes 0.50.2's LLM.int8() on the CPU (tests/fixtures/bnb:
// int8.json says what every key holds) and against LLM.int8() computed in double from its pieces
// (shared/reference/quant_lora.md sections 2.1 and 6).

#include <doctest/doctest.h>

#include "quantization_test_support.hpp"

using namespace fthost::testing::quantization;

namespace {

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
TEST_CASE("quant_int8: a site bitsandbytes saved loads and saves again as it was") {
  check_resave("tiny_llama_int8", int8_with());
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
