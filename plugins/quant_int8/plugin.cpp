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
    return "Validation only: options use bitsandbytes' names, the plan says which linear sites would be "
           "stored as int8 and what they would weigh, but int8 storage and matmul do not exist yet on any "
           "backend (a pipeline using quant_int8 stops with a not-implemented error).";
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
              "LLM.int8() 8-bit frozen base weights (bitsandbytes-compatible options, validation only)")
