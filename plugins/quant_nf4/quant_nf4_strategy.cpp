#include "quant_nf4_strategy.hpp"

#include <string_view>

#include "dtype_names.hpp"
#include "plan_text.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

// bitsandbytes double quantization groups the first-level absmax values in blocks of 256.
constexpr std::int64_t double_quant_blocksize = 256;

// Everything this plugin validates but cannot do yet: there is no 4-bit storage or matmul in this
// build. Delete this helper when quantized weights load and multiply.
sdk::Errors nf4_behaviour_not_implemented(std::string_view quant_type) {
  return {sdk::Error::not_implemented(
      "4-bit (" + std::string(quant_type) +
      ") weight storage and matmul are not implemented yet (validation only in this build)")};
}

bool is_power_of_two(std::int64_t value) { return value > 0 && (value & (value - 1)) == 0; }

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
                "dtype the dequantized weights are multiplied in (bitsandbytes' default float32)")
      .alias("bnb_4bit_compute_dtype");
  schema.add_enum("quant_storage", "uint8", {"uint8"}, "element type the packed 4-bit codes are stored in")
      .alias("bnb_4bit_quant_storage");
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
      skip_modules_(options.get_string_list("skip_modules")) {}

bool Nf4QuantizationStrategy::quantizes(const sdk::LinearSite& site) const {
  return !site_matches_any(site, skip_modules_);
}

double Nf4QuantizationStrategy::bits_per_weight() const {
  auto block = static_cast<double>(blocksize_);
  if (!double_quant_) return 4.0 + 32.0 / block;
  return 4.0 + 8.0 / block + 32.0 / (block * static_cast<double>(double_quant_blocksize));
}

sdk::Errors Nf4QuantizationStrategy::check(const sdk::PipelineFacts& /*facts*/) const {
  sdk::Errors errors;
  if (!is_power_of_two(blocksize_)) {
    errors.push_back(sdk::Error::invalid_input(
        "blocksize (" + std::to_string(blocksize_) +
        ") must be a power of two between 32 and 4096 (32, 64, 128, ..., 4096), as bitsandbytes' kernels require"));
  }
  for (sdk::Error& missing : nf4_behaviour_not_implemented(quant_type_)) errors.push_back(std::move(missing));
  return errors;
}

std::vector<std::string> Nf4QuantizationStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::string scales = double_quant_ ? "absmax double-quantized to 8 bits (fp32 scale per 256 blocks)" : "fp32 absmax";
  std::vector<std::string> lines;
  lines.push_back("quant_nf4: " + quant_type_ + " codes in blocks of " + std::to_string(blocksize_) + ", " + scales +
                  " -> " + format_decimal(bits_per_weight()) + " bits per weight; compute in " + compute_dtype_name_ +
                  (skip_modules_.empty() ? "" : "; kept dense: " + join_names(skip_modules_)));
  if (!facts.sites.empty()) {
    std::int64_t quantized_sites = 0;
    std::int64_t quantized_weights = 0;
    for (const sdk::LinearSite& site : facts.sites) {
      if (!quantizes(site)) continue;
      ++quantized_sites;
      quantized_weights += site.in_features * site.out_features;
    }
    lines.push_back("quant_nf4: quantizes " + std::to_string(quantized_sites) + " of " +
                    std::to_string(facts.sites.size()) + " linear sites, " + format_count(quantized_weights) +
                    " weights in " +
                    format_gibibytes(static_cast<double>(quantized_weights) * bits_per_weight() / 8.0));
  }
  return lines;
}

}  // namespace fthost::plugins
