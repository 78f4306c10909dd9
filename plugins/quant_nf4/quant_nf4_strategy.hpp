#pragma once
// QLoRA's 4-bit storage of frozen base weights: NF4 (or FP4) codes in blocks of `blocksize`
// elements, one absmax scale per block, optionally double-quantized. Option names and defaults are
// bitsandbytes' / transformers' BitsAndBytesConfig (bnb_4bit_* accepted as aliases).

#include <cstdint>
#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"
#include "nf4_codec.hpp"

namespace fthost::plugins {

sdk::OptionSchema quant_nf4_option_schema();

class Nf4QuantizationStrategy final : public sdk::QuantizationStrategy {
 public:
  // `options` holds every key of quant_nf4_option_schema(), already validated by the host.
  explicit Nf4QuantizationStrategy(const sdk::Options& options);

  // The linears target_modules selects (default all-linear) and skip_modules does not (default lm_head).
  bool quantizes(const sdk::LinearSite& site) const override;
  // 4 bits per code plus the block scales: an fp32 absmax per block adds 32 / blocksize; with double
  // quantization that absmax is an 8-bit code (8 / blocksize) plus one fp32 scale per 256 blocks
  // (32 / (blocksize * 256)). The fp32 mean offset (one per tensor) is left out.
  double bits_per_weight() const override;

  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

  std::vector<sdk::QuantizedTensor> site_layout(const sdk::LinearSite& site) const override;
  void quantize(const sdk::LinearSite& site, const sdk::TensorRef& weight, std::span<const sdk::TensorRef> stored,
                sdk::Ops& ops) const override;
  void dequantize(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& weight,
                  sdk::Ops& ops) const override;
  void forward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& input,
               const sdk::TensorRef& output, sdk::Ops& ops) const override;
  void backward(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored, const sdk::TensorRef& d_output,
                const sdk::TensorRef& d_input, sdk::Ops& ops) const override;
  // bitsandbytes' serialized layout (QuantState.as_dict(packed=True)).
  std::vector<sdk::SavedTensor> save(const sdk::LinearSite& site, std::span<const sdk::TensorRef> stored) const override;
  bool saved_quantized(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved) const override;
  sdk::Errors load(const sdk::LinearSite& site, const sdk::SavedTensorReader& saved,
                   std::span<const sdk::TensorRef> stored) const override;
  std::string quantization_config_json() const override;

  // The dtype dequantized weights are multiplied in (bnb_4bit_compute_dtype).
  sdk::DType compute_dtype() const { return compute_dtype_; }

 private:
  FourBitType four_bit_type() const;
  std::string quant_state_key() const;
  // The per-block scales dequantization multiplies by (double quantization undone).
  std::vector<float> block_scales(std::span<const sdk::TensorRef> stored) const;

  std::string quant_type_;  // nf4 or fp4
  std::int64_t blocksize_;
  bool double_quant_;
  sdk::DType compute_dtype_;
  std::string compute_dtype_name_;
  std::string quant_storage_;
  std::vector<std::string> target_modules_;
  std::vector<std::string> skip_modules_;
};

}  // namespace fthost::plugins
