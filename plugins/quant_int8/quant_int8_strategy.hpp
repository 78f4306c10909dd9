#pragma once
// LLM.int8() storage of frozen base weights: int8 codes with one fp32 absmax scale per output row,
// and outlier input columns (|x| >= llm_int8_threshold) multiplied in 16 bits. Option names and
// defaults are transformers' BitsAndBytesConfig.

#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

sdk::OptionSchema quant_int8_option_schema();

class Int8QuantizationStrategy final : public sdk::QuantizationStrategy {
 public:
  // `options` holds every key of quant_int8_option_schema(), already validated by the host.
  explicit Int8QuantizationStrategy(const sdk::Options& options);

  // The linears target_modules selects (default all-linear) and skip_modules does not (default lm_head).
  bool quantizes(const sdk::LinearSite& site) const override;
  // The SDK asks without naming a site, so this leaves out the per-row fp32 scale (32 / in_features
  // bits: under 0.01 for in_features >= 4096) and answers 8; bits_per_weight(site) is exact.
  // With llm_int8_has_fp16_weight the fp16 weight is what is kept (16 bits).
  double bits_per_weight() const override;
  // 8 + 32 / in_features: int8 codes plus one fp32 scale (SCB) per output row of [out, in].
  double bits_per_weight(const sdk::LinearSite& site) const;

  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

  std::vector<sdk::QuantizedTensor> site_layout(const sdk::LinearSite& site) const override;
  void quantize(const sdk::LinearSite& site, const sdk::TensorRef& weight, std::span<const sdk::TensorRef> stored,
                sdk::Ops& ops) const override;
  void dequantize(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& weight,
                  sdk::Ops& ops) const override;
  // LLM.int8(): the input quantized per token row (outlier columns excluded), an int8 x int8 ->
  // int32 matmul rescaled by both scales, plus the outlier columns in 16 bits.
  void forward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& input,
               const sdk::TensorRef& output, sdk::Ops& ops) const override;
  void backward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& d_output,
                const sdk::TensorRef& d_input, sdk::Ops& ops) const override;
  // Linear8bitLt's state dict: weight (int8), SCB, weight_format.
  std::vector<sdk::SavedTensor> save(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored) const override;
  bool saved_quantized(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved) const override;
  sdk::Errors load(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved,
                   std::span<const sdk::TensorRef> stored) const override;
  std::string quantization_config_json() const override;

  // The dtype inputs are cast to before they are quantized (bitsandbytes casts to fp16).
  sdk::DType compute_dtype() const { return compute_dtype_; }

 private:
  double outlier_threshold_;  // llm_int8_threshold
  bool keeps_fp16_weight_;    // llm_int8_has_fp16_weight
  std::vector<std::string> target_modules_;
  std::vector<std::string> skip_modules_;
  sdk::DType compute_dtype_;
  std::string compute_dtype_name_;
};

}  // namespace fthost::plugins
