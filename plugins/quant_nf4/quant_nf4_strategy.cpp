#include "quant_nf4_strategy.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

#include <nlohmann/json.hpp>

#include "dtype_names.hpp"
#include "nf4_codec.hpp"
#include "plan_text.hpp"
#include "saved_tensors.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

using sdk::DType;

// bitsandbytes double quantization groups the first-level absmax values in blocks of 256.
constexpr std::int64_t double_quant_blocksize = 256;

bool is_power_of_two(std::int64_t value) { return value > 0 && (value & (value - 1)) == 0; }

std::int64_t weight_count(const sdk::LinearSite& site) { return site.in_features * site.out_features; }
std::int64_t block_count(std::int64_t count, std::int64_t blocksize) { return (count + blocksize - 1) / blocksize; }

// Stored tensors, in site_layout order.
enum Stored : std::size_t { codes = 0, absmax = 1, nested_absmax = 2, nested_offset = 3 };

// Python's repr of a float (shortest round trip), as json.dumps writes it.
std::string python_float(double value) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, end);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

}  // namespace

sdk::OptionSchema quant_nf4_option_schema() {
  sdk::OptionSchema schema;
  // bitsandbytes' own default is fp4; this plugin exists for QLoRA's NF4, so nf4 is ours.
  schema.add_enum("quant_type", "nf4", {"nf4", "fp4"}, "4-bit code book: nf4 (normal-float, QLoRA) or fp4 (E2M1)")
      .alias("bnb_4bit_quant_type");
  schema.add_int("blocksize", 64, "weights per absmax block, a power of two (bitsandbytes' default 64)")
      .range(32, 4096);
  schema
      .add_bool("double_quant", false, "quantize the per-block absmax values to 8 bits too (QLoRA double quantization)")
      .alias("bnb_4bit_use_double_quant");
  schema
      .add_enum("compute_dtype", "fp32", {"fp32", "bf16", "fp16"},
                "dtype the dequantized weights are rounded to before the matmul (bitsandbytes' default float32)")
      .alias("bnb_4bit_compute_dtype");
  schema.add_enum("quant_storage", "uint8", {"uint8"}, "element type the packed 4-bit codes are stored in")
      .alias("bnb_4bit_quant_storage");
  schema.add_string_list("target_modules", {"all-linear"},
                          "modules to quantize (full name or '.'-suffix); all-linear = every linear site");
  schema.add_string_list("skip_modules", {"lm_head"}, "modules kept unquantized (full name or '.'-suffix)")
      .alias("llm_int8_skip_modules");
  return schema;
}

Nf4QuantizationStrategy::Nf4QuantizationStrategy(const sdk::Options& options)
    : quant_type_(options.get_string("quant_type")),
      blocksize_(options.get_int("blocksize")),
      double_quant_(options.get_bool("double_quant")),
      compute_dtype_(dtype_from_option(options.get_string("compute_dtype"))),
      compute_dtype_name_(options.get_string("compute_dtype")),
      quant_storage_(options.get_string("quant_storage")),
      target_modules_(options.get_string_list("target_modules")),
      skip_modules_(options.get_string_list("skip_modules")) {}

bool Nf4QuantizationStrategy::quantizes(const sdk::LinearSite& site) const {
  return quantization_selects(site, target_modules_, skip_modules_);
}

double Nf4QuantizationStrategy::bits_per_weight() const {
  auto block = static_cast<double>(blocksize_);
  if (!double_quant_) return 4.0 + 32.0 / block;
  return 4.0 + 8.0 / block + 32.0 / (block * static_cast<double>(double_quant_blocksize));
}

sdk::Errors Nf4QuantizationStrategy::check(const sdk::PipelineFacts& facts) const {
  sdk::Errors errors;
  if (!is_power_of_two(blocksize_)) {
    errors.push_back(sdk::Error::invalid_input(
        "blocksize (" + std::to_string(blocksize_) +
        ") must be a power of two between 32 and 4096 (32, 64, 128, ..., 4096), as bitsandbytes' kernels require"));
  }
  if (facts.backend != sdk::BackendKind::cpu) {
    errors.push_back(sdk::Error::not_implemented("4-bit (" + quant_type_ +
                                                 ") storage and matmul run on the CPU backend only in this build"));
  }
  for (const std::string& problem : unmatched_quantization_modules(facts.sites, target_modules_, skip_modules_)) {
    errors.push_back(sdk::Error::invalid_input(problem));
  }
  return errors;
}

std::vector<std::string> Nf4QuantizationStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::string scales = double_quant_ ? "absmax double-quantized to 8 bits (fp32 scale per 256 blocks)" : "fp32 absmax";
  std::vector<std::string> lines;
  lines.push_back("quant_nf4: " + quant_type_ + " codes in blocks of " + std::to_string(blocksize_) + ", " + scales +
                  " -> " + format_decimal(bits_per_weight()) + " bits per weight; dequantized to " +
                  compute_dtype_name_ + " one layer at a time for each matmul" +
                  (skip_modules_.empty() ? "" : "; kept dense: " + join_names(skip_modules_)));
  if (!facts.sites.empty()) {
    std::int64_t quantized_sites = 0;
    std::int64_t quantized_weights = 0;
    for (const sdk::LinearSite& site : facts.sites) {
      if (!quantizes(site)) continue;
      ++quantized_sites;
      quantized_weights += weight_count(site);
    }
    lines.push_back("quant_nf4: quantizes " + std::to_string(quantized_sites) + " of " +
                    std::to_string(facts.sites.size()) + " linear sites, " + format_count(quantized_weights) +
                    " weights in " +
                    format_gibibytes(static_cast<double>(quantized_weights) * bits_per_weight() / 8.0));
  }
  return lines;
}

FourBitType Nf4QuantizationStrategy::four_bit_type() const {
  return quant_type_ == "fp4" ? FourBitType::fp4 : FourBitType::nf4;
}

std::vector<sdk::QuantizedTensor> Nf4QuantizationStrategy::site_layout(const sdk::LinearSite& site) const {
  const std::int64_t count = weight_count(site);
  const std::int64_t blocks = block_count(count, blocksize_);
  std::vector<sdk::QuantizedTensor> layout;
  layout.push_back({"weight", DType::u8, (count + 1) / 2, 1});
  if (!double_quant_) {
    layout.push_back({"weight.absmax", DType::f32, 1, blocks});
    return layout;
  }
  layout.push_back({"weight.absmax", DType::u8, 1, blocks});
  layout.push_back({"weight.nested_absmax", DType::f32, 1, block_count(blocks, double_quant_blocksize)});
  layout.push_back({"weight.nested_offset", DType::f32, 1, 1});
  return layout;
}

void Nf4QuantizationStrategy::quantize(const sdk::LinearSite& site, const sdk::TensorRef& weight,
                                       std::span<const sdk::TensorRef> stored, sdk::Ops& /*ops*/) const {
  FourBitQuantized quantized = quantize_4bit(host_span<const float>(weight), blocksize_, four_bit_type());
  std::span<std::uint8_t> code_bytes = host_span<std::uint8_t>(stored[codes]);
  if (code_bytes.size() != quantized.codes.size()) throw std::logic_error("code buffer size differs for " + site.name);
  std::copy(quantized.codes.begin(), quantized.codes.end(), code_bytes.begin());
  if (!double_quant_) {
    std::copy(quantized.absmax.begin(), quantized.absmax.end(), host_span<float>(stored[absmax]).begin());
    return;
  }
  QuantizedAbsmax scales = quantize_absmax(quantized.absmax);
  std::copy(scales.codes.begin(), scales.codes.end(), host_span<std::uint8_t>(stored[absmax]).begin());
  std::copy(scales.nested_absmax.begin(), scales.nested_absmax.end(), host_span<float>(stored[nested_absmax]).begin());
  host_span<float>(stored[nested_offset])[0] = scales.offset;
}

std::vector<float> Nf4QuantizationStrategy::block_scales(std::span<const sdk::TensorRef> stored) const {
  if (!double_quant_) {
    std::span<const float> values = host_span<const float>(stored[absmax]);
    return {values.begin(), values.end()};
  }
  // bitsandbytes: dequantize_blockwise(absmax codes, nested state) + offset, in f32.
  std::span<const std::uint8_t> absmax_codes = host_span<const std::uint8_t>(stored[absmax]);
  std::span<const float> nested = host_span<const float>(stored[nested_absmax]);
  const float offset = host_span<const float>(stored[nested_offset])[0];
  const std::array<float, 256>& map = dynamic_map();
  std::vector<float> scales(absmax_codes.size());
  for (std::size_t i = 0; i < scales.size(); ++i) {
    scales[i] = map[absmax_codes[i]] * nested[i / static_cast<std::size_t>(double_quant_blocksize)] + offset;
  }
  return scales;
}

void Nf4QuantizationStrategy::dequantize(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                         const sdk::TensorRef& weight, sdk::Ops& ops) const {
  if (weight.elements() != weight_count(site) || weight.dtype != DType::f32) {
    throw std::logic_error("dequantize: weight must be f32 [" + std::to_string(site.out_features) + ", " +
                           std::to_string(site.in_features) + "]");
  }
  const std::vector<float> scales = block_scales(stored);
  dequantize_4bit_into(host_span<const std::uint8_t>(stored[codes]).data(), scales.data(), weight_count(site),
                       blocksize_, four_bit_type(), static_cast<float*>(weight.data));
  // bitsandbytes hands the matmul the dequantized weight in the compute dtype.
  if (compute_dtype_ != DType::f32) ops.round_to(weight, compute_dtype_);
}

void Nf4QuantizationStrategy::forward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                      const sdk::TensorRef& input, const sdk::TensorRef& output, sdk::Ops& ops) const {
  const sdk::TensorRef weight = ops.scratch(DType::f32, site.out_features, site.in_features);
  dequantize(site, stored, weight, ops);
  ops.matmul(output, input, false, weight, true, 1.0f, 0.0f);
}

void Nf4QuantizationStrategy::backward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored,
                                       const sdk::TensorRef& d_output, const sdk::TensorRef& d_input,
                                       sdk::Ops& ops) const {
  const sdk::TensorRef weight = ops.scratch(DType::f32, site.out_features, site.in_features);
  dequantize(site, stored, weight, ops);
  ops.matmul(d_input, d_output, false, weight, false, 1.0f, 1.0f);
}

std::string Nf4QuantizationStrategy::quant_state_key() const { return "weight.quant_state.bitsandbytes__" + quant_type_; }

std::vector<sdk::SavedTensor> Nf4QuantizationStrategy::save(const sdk::LinearSite& site,
                                                            std::span<const sdk::TensorRef> stored) const {
  // QuantState.as_dict(packed=True): tensors under weight.*, the rest as JSON bytes.
  std::vector<sdk::SavedTensor> saved;
  const std::int64_t count = weight_count(site);
  const std::int64_t blocks = block_count(count, blocksize_);
  saved.push_back(saved_tensor("weight", DType::u8, {(count + 1) / 2, 1}, stored[codes].data,
                               static_cast<std::size_t>((count + 1) / 2)));
  // bitsandbytes' saved FP4 map has +0 where fthost's table has -0 (code 8): equal values, and
  // the saved bytes match bitsandbytes'.
  std::array<float, 16> table = four_bit_table(four_bit_type());
  for (float& value : table) value = value == 0.0f ? 0.0f : value;
  std::string state = "{\"quant_type\": \"" + quant_type_ + "\", \"blocksize\": " + std::to_string(blocksize_) +
                      ", \"dtype\": \"float32\", \"shape\": [" + std::to_string(site.out_features) + ", " +
                      std::to_string(site.in_features) + "]";
  if (!double_quant_) {
    saved.push_back(saved_tensor("weight.absmax", DType::f32, {blocks}, stored[absmax].data,
                                 static_cast<std::size_t>(blocks) * 4));
    saved.push_back(saved_tensor("weight.quant_map", DType::f32, {16}, table.data(), sizeof table));
  } else {
    const std::int64_t nested_blocks = block_count(blocks, double_quant_blocksize);
    saved.push_back(saved_tensor("weight.absmax", DType::u8, {blocks}, stored[absmax].data,
                                 static_cast<std::size_t>(blocks)));
    saved.push_back(saved_tensor("weight.quant_map", DType::f32, {16}, table.data(), sizeof table));
    saved.push_back(saved_tensor("weight.nested_absmax", DType::f32, {nested_blocks}, stored[nested_absmax].data,
                                 static_cast<std::size_t>(nested_blocks) * 4));
    saved.push_back(saved_tensor("weight.nested_quant_map", DType::f32, {256}, dynamic_map().data(),
                                 sizeof(float) * 256));
    const float offset = host_span<const float>(stored[nested_offset])[0];
    state += ", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": " +
             python_float(static_cast<double>(offset));
  }
  state += "}";
  saved.push_back(saved_tensor(quant_state_key(), DType::u8, {static_cast<std::int64_t>(state.size())}, state.data(),
                               state.size()));
  return saved;
}

bool Nf4QuantizationStrategy::saved_quantized(const sdk::LinearSite& /*site*/, const sdk::SavedTensorReader& saved) const {
  std::optional<sdk::SavedTensorView> weight = saved.find("weight");
  const bool dense = weight && (weight->dtype == DType::f32 || weight->dtype == DType::bf16 || weight->dtype == DType::f16);
  return !dense || saved.find("weight.quant_state.bitsandbytes__nf4") || saved.find("weight.quant_state.bitsandbytes__fp4");
}

sdk::Errors Nf4QuantizationStrategy::load(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved,
                                          std::span<const sdk::TensorRef> stored) const {
  const std::string other_key = std::string("weight.quant_state.bitsandbytes__") + (quant_type_ == "nf4" ? "fp4" : "nf4");
  std::optional<sdk::SavedTensorView> state_view = saved.find(quant_state_key());
  if (!state_view) {
    if (saved.find(other_key)) {
      return {sdk::Error::invalid_input(saved_where(saved, site, other_key) + ": the folder's weights are " +
                                        (quant_type_ == "nf4" ? "fp4" : "nf4") + ", the pipeline asks for quant_type " +
                                        quant_type_)};
    }
    return {sdk::Error::invalid_input(saved.source() + ": missing tensor '" + site.name + "." + quant_state_key() +
                                      "' (the quant state bitsandbytes saves beside a 4-bit weight)")};
  }
  const std::string state_where = saved_where(saved, site, quant_state_key());
  nlohmann::json state = nlohmann::json::parse(
      std::string_view(reinterpret_cast<const char*>(state_view->bytes.data()), state_view->bytes.size()), nullptr, false);
  if (!state.is_object()) return {sdk::Error::invalid_input(state_where + " does not hold a JSON object")};
  auto field = [&](const char* key) { return state.contains(key) ? state[key] : nlohmann::json(); };
  if (field("quant_type") != quant_type_) {
    return {sdk::Error::invalid_input(state_where + ": quant_type is " + field("quant_type").dump() + ", expected \"" +
                                      quant_type_ + "\"")};
  }
  if (!field("blocksize").is_number_integer() || field("blocksize").get<std::int64_t>() != blocksize_) {
    return {sdk::Error::invalid_input(state_where + ": blocksize is " + field("blocksize").dump() +
                                      ", the pipeline's blocksize is " + std::to_string(blocksize_))};
  }
  const nlohmann::json expected_shape = {site.out_features, site.in_features};
  if (field("shape") != expected_shape) {
    return {sdk::Error::invalid_input(state_where + ": shape is " + field("shape").dump() + ", expected " +
                                      expected_shape.dump() + " from config.json")};
  }
  const bool nested = state.contains("nested_offset");
  if (nested != double_quant_) {
    return {sdk::Error::invalid_input(state_where + ": the folder's absmax values are " +
                                      (nested ? "" : "not ") + "double-quantized, the pipeline has double_quant " +
                                      (double_quant_ ? "true" : "false"))};
  }
  if (nested && (field("nested_blocksize") != double_quant_blocksize || !field("nested_offset").is_number())) {
    return {sdk::Error::invalid_input(state_where + ": expected nested_blocksize 256 and a numeric nested_offset")};
  }

  const std::int64_t count = weight_count(site);
  const std::int64_t blocks = block_count(count, blocksize_);
  auto copy_into = [](const sdk::SavedTensorView& view, const sdk::TensorRef& target) {
    std::memcpy(target.data, view.bytes.data(), view.bytes.size());
  };
  sdk::Result<sdk::SavedTensorView> weight = expect_saved(saved, site, "weight", DType::u8, {(count + 1) / 2, 1});
  if (!weight) return {weight.error()};
  sdk::Result<sdk::SavedTensorView> quant_map = expect_saved(saved, site, "weight.quant_map", DType::f32, {16});
  if (!quant_map) return {quant_map.error()};
  const std::array<float, 16>& table = four_bit_table(four_bit_type());
  std::array<float, 16> saved_map{};
  std::memcpy(saved_map.data(), quant_map->bytes.data(), sizeof saved_map);
  if (saved_map != table) {  // by value: +0 and -0 are the same code value
    return {sdk::Error::invalid_input(saved_where(saved, site, "weight.quant_map") + " is not bitsandbytes' " +
                                      quant_type_ + " code book (custom code books are not supported)")};
  }
  copy_into(*weight, stored[codes]);
  if (!double_quant_) {
    sdk::Result<sdk::SavedTensorView> scales = expect_saved(saved, site, "weight.absmax", DType::f32, {blocks});
    if (!scales) return {scales.error()};
    copy_into(*scales, stored[absmax]);
    return {};
  }
  const std::int64_t nested_blocks = block_count(blocks, double_quant_blocksize);
  sdk::Result<sdk::SavedTensorView> scales = expect_saved(saved, site, "weight.absmax", DType::u8, {blocks});
  if (!scales) return {scales.error()};
  sdk::Result<sdk::SavedTensorView> nested_scales =
      expect_saved(saved, site, "weight.nested_absmax", DType::f32, {nested_blocks});
  if (!nested_scales) return {nested_scales.error()};
  sdk::Result<sdk::SavedTensorView> nested_map = expect_saved(saved, site, "weight.nested_quant_map", DType::f32, {256});
  if (!nested_map) return {nested_map.error()};
  if (std::memcmp(nested_map->bytes.data(), dynamic_map().data(), sizeof(float) * 256) != 0) {
    return {sdk::Error::invalid_input(saved_where(saved, site, "weight.nested_quant_map") +
                                      " is not bitsandbytes' 8-bit dynamic map")};
  }
  copy_into(*scales, stored[absmax]);
  copy_into(*nested_scales, stored[nested_absmax]);
  host_span<float>(stored[nested_offset])[0] = static_cast<float>(field("nested_offset").get<double>());
  return {};
}

std::string Nf4QuantizationStrategy::quantization_config_json() const {
  // transformers' BitsAndBytesConfig.to_dict(), which from_pretrained reads; "fthost_plugin",
  // "blocksize" and "target_modules" are fthost's (transformers ignores them and always uses
  // blocksize 64), so the folder reads back with the settings and sites it was quantized with.
  const std::string compute = compute_dtype_ == DType::f32 ? "float32" : compute_dtype_ == DType::bf16 ? "bfloat16" : "float16";
  nlohmann::json config = {{"quant_method", "bitsandbytes"},
                           {"load_in_4bit", true},
                           {"load_in_8bit", false},
                           {"bnb_4bit_quant_type", quant_type_},
                           {"bnb_4bit_use_double_quant", double_quant_},
                           {"bnb_4bit_compute_dtype", compute},
                           {"bnb_4bit_quant_storage", quant_storage_},
                           {"llm_int8_skip_modules", skip_modules_},
                           {"target_modules", target_modules_},
                           {"llm_int8_threshold", 6.0},
                           {"llm_int8_has_fp16_weight", false},
                           {"llm_int8_enable_fp32_cpu_offload", false},
                           {"fthost_plugin", "quant_nf4"},
                           {"blocksize", blocksize_}};
  return config.dump();
}

}  // namespace fthost::plugins
