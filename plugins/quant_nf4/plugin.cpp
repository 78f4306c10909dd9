// The quant_nf4 plugin's entry point: descriptor, schema and factory. The logic is in quant_nf4_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "quant_nf4_strategy.hpp"

namespace fthost::plugins {
namespace {

class Nf4Plugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::quantization; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "CPU backend: frozen linear weights stored in 4 bits exactly as bitsandbytes stores them (NF4 or "
           "FP4 codes, absmax per block, optional double quantization; its serialized keys and quant state), "
           "dequantized one layer at a time for each matmul; QLoRA when combined with lora. Options use "
           "bitsandbytes' names (bnb_4bit_* aliases accepted). Not implemented: the CUDA backend.";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<Nf4QuantizationStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = quant_nf4_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::Nf4Plugin, "quant_nf4", "0.1.0", quantization,
              "QLoRA 4-bit NF4/FP4 frozen base weights with double quantization, bitsandbytes' format (CPU)")
