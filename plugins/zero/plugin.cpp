// The zero plugin's entry point: descriptor, schema and factory. The logic is in zero_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "zero_strategy.hpp"

namespace fthost::plugins {
namespace {

class ZeroPlugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::sharding; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "Validation only: DeepSpeed zero_optimization keys are accepted with their defaults and checked "
           "with DeepSpeed's rules (offload_param needs stage 3; NVMe offload is not supported), and the "
           "plan says what each rank would hold, but no state is partitioned yet on any backend (a pipeline "
           "using zero stops with a not-implemented error).";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<ZeroStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = zero_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::ZeroPlugin, "zero", "0.1.0", sharding,
              "DeepSpeed ZeRO stages 0-3 with CPU offload (validation only)")
