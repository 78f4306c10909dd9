#pragma once
// Compute dtype, master-weight dtype and loss scaling. The fp16 keys and their meaning are
// DeepSpeed's `fp16` section (loss_scale 0 = dynamic scaling).

#include <cstdint>
#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

sdk::OptionSchema precision_option_schema();

class MixedPrecisionStrategy final : public sdk::PrecisionStrategy {
 public:
  // `options` holds every key of precision_option_schema(), already validated by the host.
  explicit MixedPrecisionStrategy(const sdk::Options& options);

  sdk::DType compute_dtype() const override { return compute_dtype_; }
  // Master weights and optimizer states stay fp32 whatever the compute dtype (DeepSpeed and AMP).
  sdk::DType master_weight_dtype() const override { return sdk::DType::f32; }
  // Only fp16 needs a loss scale: bf16 has fp32's exponent range, so small gradients do not flush to zero.
  bool scales_loss() const override { return compute_dtype_ == sdk::DType::f16; }

  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

  sdk::LossScaleState initial_loss_scale_state() const override;
  // DeepSpeed's DynamicLossScaler.update_scale (see the comment in the source for the rules); a
  // static or absent scale never changes.
  sdk::Result<sdk::LossScaleState> update_loss_scale(const sdk::LossScaleState& state, bool overflow) const override;

  // fp16 with loss_scale 0: the scale starts at 2^initial_scale_power and adapts to overflows.
  bool dynamic_loss_scale() const { return scales_loss() && loss_scale_ == 0.0; }
  // The scale of the first step: 2^initial_scale_power when dynamic, loss_scale when static, 1 without scaling.
  double initial_loss_scale() const;

 private:
  sdk::DType compute_dtype_;
  std::string dtype_name_;  // as the user wrote it: fp32, bf16, fp16
  double loss_scale_;
  std::int64_t initial_scale_power_;
  std::int64_t loss_scale_window_;
  std::int64_t hysteresis_;
  bool consecutive_hysteresis_;
  double min_loss_scale_;
};

}  // namespace fthost::plugins
