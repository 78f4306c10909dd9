// The megatron plugin's entry point: descriptor, schema and factory. The logic is in megatron_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "megatron_strategy.hpp"

namespace fthost::plugins {
namespace {

class MegatronPlugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::parallelism; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "Validation only: Megatron's parallel sizes are checked against the world size and the model "
           "(with Megatron's arithmetic in the messages) and the plan says how layers would be split, but "
           "no rank splits anything yet on any backend (a pipeline using megatron stops with a not-implemented error).";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<MegatronStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = megatron_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::MegatronPlugin, "megatron", "0.1.0", parallelism,
              "Megatron-style tensor, sequence and pipeline parallelism (validation only)")
