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
    return "Validation only: options use bitsandbytes' names (bnb_4bit_* aliases accepted), the plan says "
           "which linear sites would be stored in 4 bits and what they would weigh, but 4-bit storage and "
           "matmul do not exist yet on any backend (a pipeline using quant_nf4 stops with a not-implemented error).";
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
              "QLoRA 4-bit NF4/FP4 frozen base weights with double quantization (validation only)")
