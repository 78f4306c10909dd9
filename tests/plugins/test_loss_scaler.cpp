// The fp16 loss scaler against a hand-worked sequence of DeepSpeed's DynamicLossScaler
// (deepspeed/runtime/fp16/loss_scaler.py, traced in ../shared/reference/deepspeed_zero.md).

#include <doctest/doctest.h>

#include "precision_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::plugins::MixedPrecisionStrategy;
using fthost::plugins::precision_option_schema;
using fthost::testing::options_from;

namespace {

MixedPrecisionStrategy fp16(std::int64_t window, std::int64_t hysteresis, double min_scale = 1.0,
                            bool consecutive = false) {
  return MixedPrecisionStrategy(options_from(precision_option_schema(), {{"dtype", std::string("fp16")},
                                                                         {"loss_scale_window", window},
                                                                         {"hysteresis", hysteresis},
                                                                         {"min_loss_scale", min_scale},
                                                                         {"consecutive_hysteresis", consecutive}}));
}

}  // namespace

TEST_CASE("loss scaler: DeepSpeed's hysteresis, halving, growth timing and floor") {
  MixedPrecisionStrategy scaler = fp16(/*window=*/3, /*hysteresis=*/2, /*min_scale=*/16384.0);
  fthost::sdk::LossScaleState state = scaler.initial_loss_scale_state();
  CHECK(state.scale == 65536.0);
  CHECK(state.hysteresis == 2);
  // (overflow?, scale after, hysteresis after), worked by hand from update_scale:
  struct Expect {
    bool overflow;
    double scale;
    std::int64_t hysteresis;
  };
  const Expect steps[] = {
      {true, 65536, 1},   // iter 0: first overflow only spends the hysteresis
      {true, 32768, 1},   // iter 1: the next halves
      {false, 32768, 1},  // iter 2: stable interval 0
      {false, 32768, 1},  // iter 3: 1
      {false, 32768, 1},  // iter 4: 2
      {false, 65536, 2},  // iter 5: 3 = window: doubles and refills the hysteresis
      {false, 65536, 2},  // iter 6: 4
      {false, 65536, 2},  // iter 7: 5
      {false, 131072, 2}, // iter 8: 6 = 2 * window
      {true, 131072, 1},  // iter 9
      {true, 65536, 1},   // iter 10
      {true, 32768, 1},   // iter 11
      {true, 16384, 1},   // iter 12: reaches min_loss_scale
  };
  for (const Expect& expected : steps) {
    CAPTURE(state.iteration);
    auto next = scaler.update_loss_scale(state, expected.overflow);
    REQUIRE(next.ok());
    state = *next;
    CHECK(state.scale == expected.scale);
    CHECK(state.hysteresis == expected.hysteresis);
  }
  CHECK(state.iteration == 13);
  CHECK(state.last_overflow_iteration == 12);
  // An overflow at the floor stops the run, as DeepSpeed raises.
  auto stopped = scaler.update_loss_scale(state, true);
  REQUIRE_FALSE(stopped.ok());
  CHECK(stopped.error().message.find("minimum loss scale") != std::string::npos);
}

TEST_CASE("loss scaler: consecutive_hysteresis refills after every clean step; static and bf16 never change") {
  MixedPrecisionStrategy consecutive = fp16(1000, 2, 1.0, true);
  auto state = consecutive.initial_loss_scale_state();
  state = *consecutive.update_loss_scale(state, true);   // h 2 -> 1
  CHECK(state.hysteresis == 1);
  state = *consecutive.update_loss_scale(state, false);  // refilled at once
  CHECK(state.hysteresis == 2);
  state = *consecutive.update_loss_scale(state, true);   // so one overflow again only spends it
  CHECK(state.scale == 65536.0);

  MixedPrecisionStrategy fixed(options_from(precision_option_schema(), {{"dtype", std::string("fp16")}, {"loss_scale", 128.0}}));
  auto fixed_state = fixed.initial_loss_scale_state();
  CHECK(fixed_state.scale == 128.0);
  fixed_state = *fixed.update_loss_scale(fixed_state, true);
  CHECK(fixed_state.scale == 128.0);

  MixedPrecisionStrategy bf16(options_from(precision_option_schema(), {{"dtype", std::string("bf16")}}));
  CHECK(bf16.initial_loss_scale_state().scale == 1.0);
  CHECK_FALSE(bf16.scales_loss());
}
