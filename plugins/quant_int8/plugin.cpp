// The quant_int8 plugin's entry point: descriptor, schema and factory. The logic is in quant_int8_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "quant_int8_strategy.hpp"

namespace fthost::plugins {
namespace {

class Int8Plugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::quantization; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "CPU backend: frozen linear weights stored as bitsandbytes' LLM.int8() stores them (int8 codes, an "
           "fp32 scale per output row: weight / SCB / weight_format), inputs quantized per token row with "
           "outlier columns (|x| >= llm_int8_threshold) multiplied unquantized, an exact int8 x int8 -> int32 "
           "GEMM (AMX or VNNI through oneDNN, else a plain loop); logits equal bitsandbytes' CPU path. Train "
           "LoRA on top. Not implemented: the CUDA backend, llm_int8_has_fp16_weight: true.";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<Int8QuantizationStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = quant_int8_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::Int8Plugin, "quant_int8", "0.1.0", quantization,
              "LLM.int8() 8-bit frozen base weights, bitsandbytes' format and numbers (CPU)")
