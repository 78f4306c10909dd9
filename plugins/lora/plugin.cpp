// The lora plugin's entry point: descriptor, schema and factory. The logic is in lora_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "lora_strategy.hpp"

namespace fthost::plugins {
namespace {

class LoraPlugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::adapter; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "Trains LoRA adapters (fp32) on the CPU backend with the base model frozen; writes and reads "
           "PEFT's adapter_config.json + adapter_model.safetensors, modules_to_save and an untied lm_head included. "
           "Not yet: bias other than none, DoRA.";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<LoraStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = lora_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::LoraPlugin, "lora", "0.1.0", adapter, "PEFT-compatible LoRA adapters")
