// The precision plugin's entry point: descriptor, schema and factory. The logic is in precision_strategy.cpp.

#include "fthost/sdk/plugin.hpp"

#include <exception>
#include <memory>
#include <string>

#include "precision_strategy.hpp"

namespace fthost::plugins {
namespace {

class PrecisionPlugin final : public sdk::Plugin {
 public:
  sdk::StrategyKind kind() const override { return sdk::StrategyKind::precision; }
  const sdk::OptionSchema& options() const override { return schema_; }

  std::string status() const override {
    return "fp32, bf16 and fp16 train on the CPU backend with fp32 master weights and AdamW states. bf16/fp16: "
           "16-bit copies of the weights, every activation and activation gradient rounded to the 16-bit type "
           "(ties to even, as GPUs convert; the CPU keeps the rounded values in f32 buffers, so activation "
           "memory is not halved there), weight gradients accumulated in f32. fp16: DeepSpeed's dynamic loss "
           "scaler; an overflowed step is skipped. bf16 GEMMs run on the CPU's matrix units (AMX via oneDNN).";
  }

  sdk::Result<std::unique_ptr<sdk::Strategy>> create(const sdk::Options& options,
                                                     sdk::Context& /*context*/) const override {
    try {
      return std::unique_ptr<sdk::Strategy>(std::make_unique<MixedPrecisionStrategy>(options));
    } catch (const std::exception& failure) {
      return sdk::Error::internal(std::string("cannot read its options: ") + failure.what());
    }
  }

 private:
  sdk::OptionSchema schema_ = precision_option_schema();
};

}  // namespace
}  // namespace fthost::plugins

FTHOST_PLUGIN(fthost::plugins::PrecisionPlugin, "precision", "0.1.0", precision,
              "Compute dtype (fp32, bf16, fp16) and DeepSpeed-style fp16 loss scaling")
