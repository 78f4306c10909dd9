#include "quant_int8_strategy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "dtype_names.hpp"
#include "plan_text.hpp"
#include "saved_tensors.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

using sdk::DType;

// bitsandbytes' int8_vectorwise_dequant factor 1/127, and int8_mm_dequant's 1/(127*127) as its
// CPU path writes it: 6.200124e-05 (the CUDA kernel's 6.200012e-05 is 1/16129; the two differ by
// 1.8e-5 relative). With the CPU literal fthost's CPU results are bitsandbytes' bit for bit; with
// 1/16129 a model's logits drift from them by far more than 1.8e-5, because an int8 layer
// re-quantizes its input and a tiny change upstream moves some values across a rounding boundary.
constexpr float inverse_127 = 7.874015718698502e-3f;
constexpr float inverse_127_squared = 6.200124e-05f;

// Stored tensors, in site_layout order.
enum Stored : std::size_t { codes = 0, scales = 1 };

// Row-wise absmax int8 of rows x cols values (LLM.int8()'s vector-wise quantization, as
// bitsandbytes' int8_vectorwise_quant): scale[r] = max |x| of the row over the elements below
// `outlier_limit` (the outliers themselves; other elements of an outlier column count), code =
// round-half-even(x * 127 / scale); the columns marked in `zero_columns` get code 0 (the
// outlier columns, multiplied in 16 bits instead).
void quantize_rows(const float* values, std::int64_t rows, std::int64_t cols, float outlier_limit,
                   const std::vector<char>& zero_columns, std::int8_t* codes_out, float* scales_out) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = values + r * cols;
    float largest = 0.0f;
    for (std::int64_t c = 0; c < cols; ++c) {
      const float magnitude = std::fabs(row[c]);
      if (magnitude < outlier_limit) largest = std::max(largest, magnitude);
    }
    scales_out[r] = largest;
    // torch evaluates bitsandbytes' 127.0 / row_stats as reciprocal then multiply (two roundings);
    // the same here, so exact ties (x * 127 / scale = k + 0.5) round the way bitsandbytes' do.
    const float factor = largest > 0.0f ? (1.0f / largest) * 127.0f : 0.0f;
    std::int8_t* out = codes_out + r * cols;
    for (std::int64_t c = 0; c < cols; ++c) {
      const bool zeroed = !zero_columns.empty() && zero_columns[static_cast<std::size_t>(c)] != 0;
      const float magnitude = std::fabs(row[c]);
      out[c] = zeroed || !(magnitude < outlier_limit)
                   ? std::int8_t{0}
                   : static_cast<std::int8_t>(std::clamp(std::nearbyint(row[c] * factor), -127.0f, 127.0f));
    }
  }
}

}  // namespace

sdk::OptionSchema quant_int8_option_schema() {
  sdk::OptionSchema schema;
  schema
      .add_float("llm_int8_threshold", 6.0,
                 "input columns holding a value with |x| >= this are multiplied unquantized; 0 = no outlier split")
      .at_least(0.0);
  schema.add_bool("llm_int8_has_fp16_weight", false,
                  "keep the fp16 weight and re-quantize it every forward instead of storing int8 only (true is not implemented: quantized weights are frozen)");
  schema.add_string_list("target_modules", {"all-linear"},
                          "modules to quantize (full name or '.'-suffix); all-linear = every linear site");
  schema.add_string_list("skip_modules", {"lm_head"}, "modules kept unquantized (full name or '.'-suffix)")
      .alias("llm_int8_skip_modules");
  schema.add_enum("compute_dtype", "fp16", {"fp16", "bf16", "fp32"},
                  "dtype inputs are cast to before their row-wise int8 quantization (bitsandbytes: fp16)");
  return schema;
}

Int8QuantizationStrategy::Int8QuantizationStrategy(const sdk::Options& options)
    : outlier_threshold_(options.get_float("llm_int8_threshold")),
      keeps_fp16_weight_(options.get_bool("llm_int8_has_fp16_weight")),
      target_modules_(options.get_string_list("target_modules")),
      skip_modules_(options.get_string_list("skip_modules")),
      compute_dtype_(dtype_from_option(options.get_string("compute_dtype"))),
      compute_dtype_name_(options.get_string("compute_dtype")) {}

bool Int8QuantizationStrategy::quantizes(const sdk::LinearSite& site) const {
  return quantization_selects(site, target_modules_, skip_modules_);
}

double Int8QuantizationStrategy::bits_per_weight() const { return keeps_fp16_weight_ ? 16.0 : 8.0; }

double Int8QuantizationStrategy::bits_per_weight(const sdk::LinearSite& site) const {
  if (keeps_fp16_weight_ || site.in_features <= 0) return bits_per_weight();
  return 8.0 + 32.0 / static_cast<double>(site.in_features);
}

sdk::Errors Int8QuantizationStrategy::check(const sdk::PipelineFacts& facts) const {
  sdk::Errors errors;
  if (keeps_fp16_weight_) {
    errors.push_back(sdk::Error::not_implemented(
        "llm_int8_has_fp16_weight: true keeps 16-bit weights to train them; fthost's quantized weights are frozen "
        "(train adapters on them), so only false is implemented"));
  }
  if (facts.backend != sdk::BackendKind::cpu) {
    errors.push_back(sdk::Error::not_implemented("LLM.int8() storage and matmul run on the CPU backend only in this build"));
  }
  for (const std::string& problem : unmatched_quantization_modules(facts.sites, target_modules_, skip_modules_)) {
    errors.push_back(sdk::Error::invalid_input(problem));
  }
  return errors;
}

std::vector<std::string> Int8QuantizationStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::string outliers = outlier_threshold_ > 0.0
                             ? "input columns with |x| >= " + format_decimal(outlier_threshold_) + " multiplied unquantized"
                             : "no outlier split (llm_int8_threshold 0)";
  std::string storage = keeps_fp16_weight_ ? "fp16 weights kept and re-quantized every forward"
                                           : "int8 weights with an fp32 scale per output row";
  std::vector<std::string> lines;
  lines.push_back("quant_int8: " + storage + ", " + outliers + "; inputs quantized from their " + compute_dtype_name_ + " cast" +
                  (skip_modules_.empty() ? "" : "; kept dense: " + join_names(skip_modules_)));
  if (!facts.sites.empty()) {
    std::int64_t quantized_sites = 0;
    std::int64_t quantized_weights = 0;
    double stored_bits = 0.0;
    for (const sdk::LinearSite& site : facts.sites) {
      if (!quantizes(site)) continue;
      ++quantized_sites;
      std::int64_t weights = site.in_features * site.out_features;
      quantized_weights += weights;
      stored_bits += static_cast<double>(weights) * bits_per_weight(site);
    }
    lines.push_back("quant_int8: quantizes " + std::to_string(quantized_sites) + " of " +
                    std::to_string(facts.sites.size()) + " linear sites, " + format_count(quantized_weights) +
                    " weights in " + format_gibibytes(stored_bits / 8.0));
  }
  return lines;
}

std::vector<sdk::QuantizedTensor> Int8QuantizationStrategy::site_layout(const sdk::LinearSite& site) const {
  return {{"weight", DType::i8, site.out_features, site.in_features}, {"SCB", DType::f32, 1, site.out_features}};
}

void Int8QuantizationStrategy::quantize(const sdk::LinearSite& site, const sdk::TensorRef& weight,
                                        std::span<const sdk::TensorRef> stored, sdk::Ops& ops) const {
  // bitsandbytes quantizes the weight as fp16 (Int8Params casts it before int8_vectorwise_quant).
  const sdk::TensorRef half = ops.scratch(DType::f32, site.out_features, site.in_features);
  std::memcpy(half.data, weight.data, static_cast<std::size_t>(weight.elements()) * sizeof(float));
  ops.round_to(half, DType::f16);
  quantize_rows(static_cast<const float*>(half.data), site.out_features, site.in_features,
                std::numeric_limits<float>::infinity(), {}, host_span<std::int8_t>(stored[codes]).data(),
                host_span<float>(stored[scales]).data());
}

void Int8QuantizationStrategy::dequantize(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                          const sdk::TensorRef& weight, sdk::Ops& /*ops*/) const {
  if (weight.elements() != site.out_features * site.in_features || weight.dtype != DType::f32) {
    throw std::logic_error("dequantize: weight must be f32 [" + std::to_string(site.out_features) + ", " +
                           std::to_string(site.in_features) + "]");
  }
  const std::int8_t* code = host_span<const std::int8_t>(stored[codes]).data();
  const float* scale = host_span<const float>(stored[scales]).data();
  auto* out = static_cast<float*>(weight.data);
  const std::int64_t cols = site.in_features;
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < site.out_features; ++r) {
    // int8_vectorwise_dequant: CB * SCB * (1/127)
    for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(code[r * cols + c]) * scale[r] * inverse_127;
  }
}

void Int8QuantizationStrategy::forward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                       const sdk::TensorRef& input, const sdk::TensorRef& output, sdk::Ops& ops) const {
  const std::int64_t tokens = input.rows;
  const std::int64_t in = site.in_features;
  const std::int64_t out = site.out_features;
  // MatMul8bitLt: the input is quantized from its fp16 cast (compute_dtype); the outlier columns
  // and the output stay in the activations' own dtype.
  const sdk::TensorRef cast = ops.scratch(DType::f32, tokens, in);
  std::memcpy(cast.data, input.data, static_cast<std::size_t>(tokens * in) * sizeof(float));
  if (compute_dtype_ != DType::f32) ops.round_to(cast, compute_dtype_);
  const float* xs = static_cast<const float*>(cast.data);

  // Outlier columns: any |x| >= threshold in the column, over every token.
  std::vector<char> outlier(static_cast<std::size_t>(in), 0);
  std::vector<std::int64_t> outlier_columns;
  if (outlier_threshold_ > 0.0) {
    const auto threshold = static_cast<float>(outlier_threshold_);
    for (std::int64_t t = 0; t < tokens; ++t) {
      for (std::int64_t c = 0; c < in; ++c) {
        if (std::fabs(xs[t * in + c]) >= threshold) outlier[static_cast<std::size_t>(c)] = 1;
      }
    }
    for (std::int64_t c = 0; c < in; ++c) {
      if (outlier[static_cast<std::size_t>(c)] != 0) outlier_columns.push_back(c);
    }
  }
  if (outlier_columns.empty()) outlier.clear();

  const sdk::TensorRef x_codes = ops.scratch(DType::i8, tokens, in);
  std::vector<float> row_scales(static_cast<std::size_t>(tokens));
  const float outlier_limit =
      outlier_threshold_ > 0.0 ? static_cast<float>(outlier_threshold_) : std::numeric_limits<float>::infinity();
  quantize_rows(xs, tokens, in, outlier_limit, outlier, static_cast<std::int8_t*>(x_codes.data), row_scales.data());
  const sdk::TensorRef products = ops.scratch(DType::i32, tokens, out);
  ops.matmul_s8(products, x_codes, stored[codes]);
  const std::int32_t* sums = static_cast<const std::int32_t*>(products.data);
  const float* column_scales = host_span<const float>(stored[scales]).data();
  auto* y = static_cast<float*>(output.data);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    // int8_mm_dequant: acc * (row_stats * col_stats) / (127 * 127)
    const float row = row_scales[static_cast<std::size_t>(t)];
    for (std::int64_t o = 0; o < out; ++o) {
      y[t * out + o] = static_cast<float>(sums[t * out + o]) * (row * column_scales[o]) * inverse_127_squared;
    }
  }

  if (!outlier_columns.empty()) {
    // The outlier columns unquantized, against the int8-dequantized weight columns (as bitsandbytes).
    const auto count = static_cast<std::int64_t>(outlier_columns.size());
    const sdk::TensorRef x_outliers = ops.scratch(DType::f32, tokens, count);
    const sdk::TensorRef w_outliers = ops.scratch(DType::f32, out, count);
    auto* xo = static_cast<float*>(x_outliers.data);
    auto* wo = static_cast<float*>(w_outliers.data);
    const auto* x = static_cast<const float*>(input.data);
    const std::int8_t* code = host_span<const std::int8_t>(stored[codes]).data();
    for (std::int64_t t = 0; t < tokens; ++t) {
      for (std::int64_t j = 0; j < count; ++j) xo[t * count + j] = x[t * in + outlier_columns[static_cast<std::size_t>(j)]];
    }
    for (std::int64_t o = 0; o < out; ++o) {
      for (std::int64_t j = 0; j < count; ++j) {
        wo[o * count + j] =
            static_cast<float>(code[o * in + outlier_columns[static_cast<std::size_t>(j)]]) * column_scales[o] * inverse_127;
      }
    }
    ops.matmul(output, x_outliers, false, w_outliers, true, 1.0f, 1.0f);
  }
}

void Int8QuantizationStrategy::backward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                        const sdk::TensorRef& d_output, const sdk::TensorRef& d_input,
                                        sdk::Ops& ops) const {
  // MatMul8bitLt.backward: grad_A = grad_out @ (CB * SCB / 127), in the activations' dtype.
  const sdk::TensorRef weight = ops.scratch(DType::f32, site.out_features, site.in_features);
  dequantize(site, stored, weight, ops);
  ops.matmul(d_input, d_output, false, weight, false, 1.0f, 1.0f);
}

std::vector<sdk::SavedTensor> Int8QuantizationStrategy::save(const sdk::LinearSite& site,
                                                             std::span<const sdk::TensorRef> stored) const {
  // Linear8bitLt's state dict: weight (int8 CB), SCB (f32 per output row), weight_format 0 ("row").
  const std::uint8_t row_format = 0;
  return {saved_tensor("weight", DType::i8, {site.out_features, site.in_features}, stored[codes].data,
                       static_cast<std::size_t>(site.out_features * site.in_features)),
          saved_tensor("SCB", DType::f32, {site.out_features}, stored[scales].data,
                       static_cast<std::size_t>(site.out_features) * sizeof(float)),
          saved_tensor("weight_format", DType::u8, {}, &row_format, 1)};
}

bool Int8QuantizationStrategy::saved_quantized(const sdk::LinearSite& /*site*/, const sdk::SavedTensorReader& saved) const {
  std::optional<sdk::SavedTensorView> weight = saved.find("weight");
  return (weight && weight->dtype == DType::i8) || saved.find("SCB").has_value();
}

sdk::Errors Int8QuantizationStrategy::load(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved,
                                           std::span<const sdk::TensorRef> stored) const {
  sdk::Result<sdk::SavedTensorView> weight =
      expect_saved(saved, site, "weight", DType::i8, {site.out_features, site.in_features});
  if (!weight) return {weight.error()};
  sdk::Result<sdk::SavedTensorView> row_scales = expect_saved(saved, site, "SCB", DType::f32, {site.out_features});
  if (!row_scales) return {row_scales.error()};
  if (std::optional<sdk::SavedTensorView> format = saved.find("weight_format")) {
    // bitsandbytes writes 0 for its row-major layout; older versions' GPU tile layouts are others.
    if (format->bytes.empty() || std::to_integer<int>(format->bytes[0]) != 0) {
      return {sdk::Error::invalid_input(saved_where(saved, site, "weight_format") +
                                        " is not 0 (row-major int8): re-save it with bitsandbytes >= 0.45")};
    }
  }
  std::memcpy(stored[codes].data, weight->bytes.data(), weight->bytes.size());
  std::memcpy(stored[scales].data, row_scales->bytes.data(), row_scales->bytes.size());
  return {};
}

std::string Int8QuantizationStrategy::quantization_config_json() const {
  // transformers' BitsAndBytesConfig.to_dict() for load_in_8bit; "fthost_plugin" and
  // "target_modules" are fthost's (transformers ignores them), so the folder reads back with the
  // sites it was quantized with.
  nlohmann::json config = {{"quant_method", "bitsandbytes"},
                           {"load_in_8bit", true},
                           {"load_in_4bit", false},
                           {"llm_int8_threshold", outlier_threshold_},
                           {"llm_int8_has_fp16_weight", false},
                           {"llm_int8_skip_modules", skip_modules_},
                           {"target_modules", target_modules_},
                           {"llm_int8_enable_fp32_cpu_offload", false},
                           {"fthost_plugin", "quant_int8"}};
  return config.dump();
}

}  // namespace fthost::plugins
