#include "quant_int8_strategy.hpp"

#include <cstdint>

#include "dtype_names.hpp"
#include "plan_text.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

// Everything this plugin validates but cannot do yet: there is no int8 storage or matmul in this
// build. Delete this helper when quantized weights load and multiply.
sdk::Errors int8_behaviour_not_implemented() {
  return {sdk::Error::not_implemented(
      "LLM.int8() weight storage and matmul are not implemented yet (validation only in this build)")};
}

}  // namespace

sdk::OptionSchema quant_int8_option_schema() {
  sdk::OptionSchema schema;
  schema
      .add_float("llm_int8_threshold", 6.0,
                 "input columns holding a value with |x| >= this are multiplied in 16 bits; 0 = no outlier split")
      .at_least(0.0);
  schema.add_bool("llm_int8_has_fp16_weight", false,
                  "keep the fp16 weight and re-quantize it every forward instead of storing int8 only");
  schema.add_string_list("skip_modules", {"lm_head"}, "modules kept unquantized (full name or '.'-suffix)")
      .alias("llm_int8_skip_modules");
  schema.add_enum("compute_dtype", "fp16", {"fp16", "bf16", "fp32"},
                  "dtype of the dequantized output and the 16-bit outlier product");
  return schema;
}

Int8QuantizationStrategy::Int8QuantizationStrategy(const sdk::Options& options)
    : outlier_threshold_(options.get_float("llm_int8_threshold")),
      keeps_fp16_weight_(options.get_bool("llm_int8_has_fp16_weight")),
      skip_modules_(options.get_string_list("skip_modules")),
      compute_dtype_(dtype_from_option(options.get_string("compute_dtype"))),
      compute_dtype_name_(options.get_string("compute_dtype")) {}

bool Int8QuantizationStrategy::quantizes(const sdk::LinearSite& site) const {
  return !site_matches_any(site, skip_modules_);
}

double Int8QuantizationStrategy::bits_per_weight() const { return keeps_fp16_weight_ ? 16.0 : 8.0; }

double Int8QuantizationStrategy::bits_per_weight(const sdk::LinearSite& site) const {
  if (keeps_fp16_weight_ || site.in_features <= 0) return bits_per_weight();
  return 8.0 + 32.0 / static_cast<double>(site.in_features);
}

sdk::Errors Int8QuantizationStrategy::check(const sdk::PipelineFacts& /*facts*/) const {
  return int8_behaviour_not_implemented();
}

std::vector<std::string> Int8QuantizationStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::string outliers = outlier_threshold_ > 0.0
                             ? "input columns with |x| >= " + format_decimal(outlier_threshold_) + " in 16 bits"
                             : "no outlier split (llm_int8_threshold 0)";
  std::string storage = keeps_fp16_weight_ ? "fp16 weights kept and re-quantized every forward"
                                           : "int8 weights with an fp32 scale per output row";
  std::vector<std::string> lines;
  lines.push_back("quant_int8: " + storage + ", " + outliers + "; compute in " + compute_dtype_name_ +
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

}  // namespace fthost::plugins
