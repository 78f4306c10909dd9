#include "precision_strategy.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "dtype_names.hpp"
#include "plan_text.hpp"

namespace fthost::plugins {
namespace {

}  // namespace

sdk::OptionSchema precision_option_schema() {
  sdk::OptionSchema schema;
  schema.add_enum("dtype", "fp32", {"fp32", "bf16", "fp16"},
                  "dtype of forward and backward compute; master weights and optimizer states stay fp32");
  schema
      .add_float("loss_scale", 0.0,
                 "fp16 only: 0 = dynamic loss scaling, > 0 = this static scale (DeepSpeed fp16.loss_scale)")
      .at_least(0.0);
  // 2^127 is the largest power of two an fp32 scale can hold.
  schema.add_int("initial_scale_power", 16, "fp16 dynamic: the first scale is 2^initial_scale_power").range(0, 127);
  schema.add_int("loss_scale_window", 1000, "fp16 dynamic: clean steps after which the scale doubles").at_least(1);
  schema.add_int("hysteresis", 2, "fp16 dynamic: overflows in a row tolerated before the scale halves").at_least(1);
  schema.add_bool("consecutive_hysteresis", false,
                  "fp16 dynamic: refill the hysteresis after every clean step, not only when the scale grows");
  schema.add_float("min_loss_scale", 1.0, "fp16 dynamic: the scale's floor; an overflow at the floor stops the run")
      .greater_than(0.0);
  return schema;
}

MixedPrecisionStrategy::MixedPrecisionStrategy(const sdk::Options& options)
    : compute_dtype_(dtype_from_option(options.get_string("dtype"))),
      dtype_name_(options.get_string("dtype")),
      loss_scale_(options.get_float("loss_scale")),
      initial_scale_power_(options.get_int("initial_scale_power")),
      loss_scale_window_(options.get_int("loss_scale_window")),
      hysteresis_(options.get_int("hysteresis")),
      consecutive_hysteresis_(options.get_bool("consecutive_hysteresis")),
      min_loss_scale_(options.get_float("min_loss_scale")) {}

double MixedPrecisionStrategy::initial_loss_scale() const {
  if (!scales_loss()) return 1.0;
  if (dynamic_loss_scale()) return std::ldexp(1.0, static_cast<int>(initial_scale_power_));
  return loss_scale_;
}

sdk::Errors MixedPrecisionStrategy::check(const sdk::PipelineFacts& /*facts*/) const {
  sdk::Errors errors;
  if (dynamic_loss_scale() && initial_loss_scale() < min_loss_scale_) {
    // DeepSpeed would start below its own floor and stop at the first overflow.
    errors.push_back(sdk::Error::invalid_input("the first loss scale 2^" + std::to_string(initial_scale_power_) +
                                               " = " + format_decimal(initial_loss_scale()) +
                                               " is below min_loss_scale (" + format_decimal(min_loss_scale_) +
                                               "): raise initial_scale_power"));
  }
  return errors;
}

sdk::LossScaleState MixedPrecisionStrategy::initial_loss_scale_state() const {
  sdk::LossScaleState state;
  state.scale = initial_loss_scale();
  state.hysteresis = hysteresis_;
  return state;
}

// DeepSpeed's DynamicLossScaler.update_scale (deepspeed/runtime/fp16/loss_scaler.py), which the
// ZeRO optimizers use:
//   overflow: with hysteresis left (> 1) only the hysteresis drops; otherwise the scale halves,
//             never below min_loss_scale (an overflow already at the floor stops the run);
//   clean:    the scale doubles when (iteration - last_overflow_iteration - 1) is a positive
//             multiple of loss_scale_window, refilling the hysteresis (consecutive_hysteresis
//             refills it after every clean step instead).
sdk::Result<sdk::LossScaleState> MixedPrecisionStrategy::update_loss_scale(const sdk::LossScaleState& state,
                                                                           bool overflow) const {
  sdk::LossScaleState next = state;
  if (!dynamic_loss_scale()) {
    ++next.iteration;
    if (overflow) next.last_overflow_iteration = state.iteration;
    return next;
  }
  if (overflow) {
    if (hysteresis_ == 1 || state.hysteresis == 1) {
      if (state.scale == min_loss_scale_) {
        return sdk::Error::invalid_input("fp16 gradients overflowed at the minimum loss scale (min_loss_scale " +
                                         format_whole_or_decimal(min_loss_scale_) +
                                         "): the run cannot continue; lower min_loss_scale, or train in bf16");
      }
      next.scale = std::max(state.scale / 2.0, min_loss_scale_);
    } else {
      next.hysteresis = state.hysteresis - 1;
    }
    next.last_overflow_iteration = state.iteration;
  } else {
    if (consecutive_hysteresis_) next.hysteresis = hysteresis_;
    const std::int64_t stable_interval = state.iteration - state.last_overflow_iteration - 1;
    if (stable_interval > 0 && stable_interval % loss_scale_window_ == 0) {
      if (!consecutive_hysteresis_) next.hysteresis = hysteresis_;
      next.scale = state.scale * 2.0;
    }
  }
  ++next.iteration;
  return next;
}

std::vector<std::string> MixedPrecisionStrategy::describe_plan(const sdk::PipelineFacts& /*facts*/) const {
  std::string line = dtype_name_ + " compute, fp32 master weights and optimizer states, ";
  if (!scales_loss()) {
    line += "no loss scaling";
  } else if (dynamic_loss_scale()) {
    line += "dynamic loss scale from 2^" + std::to_string(initial_scale_power_) + " = " +
            format_whole_or_decimal(initial_loss_scale()) + ", doubled after " + std::to_string(loss_scale_window_) +
            " clean steps, halved after " + std::to_string(hysteresis_) + " overflows" +
            (consecutive_hysteresis_ ? " in a row" : "") + ", floor " + format_whole_or_decimal(min_loss_scale_);
  } else {
    line += "static loss scale " + format_whole_or_decimal(loss_scale_);
  }
  return {line};
}

}  // namespace fthost::plugins
