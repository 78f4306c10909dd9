#include <doctest/doctest.h>

#include "precision_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::plugins::MixedPrecisionStrategy;
using fthost::plugins::precision_option_schema;
using fthost::sdk::DType;
using fthost::sdk::ErrorCategory;
using namespace fthost::testing;

TEST_CASE("precision: fp32 computes and keeps master weights in fp32 without a loss scale") {
  MixedPrecisionStrategy strategy(options_from(precision_option_schema()));
  CHECK(strategy.compute_dtype() == DType::f32);
  CHECK(strategy.master_weight_dtype() == DType::f32);
  CHECK_FALSE(strategy.scales_loss());
  CHECK(strategy.initial_loss_scale() == 1.0);
  CHECK(strategy.check({}).empty());
  CHECK(strategy.describe_plan({}).at(0) ==
        "fp32 compute, fp32 master weights and optimizer states, no loss scaling");  // the host prefixes "precision: "
}

TEST_CASE("precision: bf16 keeps fp32 master weights and needs no loss scale") {
  MixedPrecisionStrategy strategy(options_from(precision_option_schema(), {{"dtype", "bf16"}}));
  CHECK(strategy.compute_dtype() == DType::bf16);
  CHECK(strategy.master_weight_dtype() == DType::f32);
  CHECK_FALSE(strategy.scales_loss());
}

TEST_CASE("precision: fp16 scales the loss dynamically from 2^initial_scale_power when loss_scale is 0") {
  MixedPrecisionStrategy strategy(options_from(precision_option_schema(), {{"dtype", "fp16"}}));
  CHECK(strategy.compute_dtype() == DType::f16);
  CHECK(strategy.scales_loss());
  CHECK(strategy.dynamic_loss_scale());
  CHECK(strategy.initial_loss_scale() == 65536.0);
  std::string plan = strategy.describe_plan({}).at(0);
  CHECK(contains(plan, "dynamic loss scale from 2^16 = 65536"));
  CHECK(contains(plan, "doubled after 1000 clean steps"));
  CHECK(contains(plan, "halved after 2 overflows"));
}

TEST_CASE("precision: fp16 with loss_scale > 0 uses that static scale") {
  MixedPrecisionStrategy strategy(options_from(precision_option_schema(), {{"dtype", "fp16"}, {"loss_scale", 128.0}}));
  CHECK(strategy.scales_loss());
  CHECK_FALSE(strategy.dynamic_loss_scale());
  CHECK(strategy.initial_loss_scale() == 128.0);
  CHECK(contains(strategy.describe_plan({}).at(0), "static loss scale 128"));
}

TEST_CASE("precision: a first dynamic scale below min_loss_scale is refused with the arithmetic") {
  MixedPrecisionStrategy strategy(
      options_from(precision_option_schema(),
                   {{"dtype", "fp16"}, {"initial_scale_power", std::int64_t{1}}, {"min_loss_scale", 4.0}}));
  fthost::sdk::Errors errors = strategy.check({});
  CHECK(errors.size() == 1);
  CHECK(has_error(errors, ErrorCategory::invalid_input, "2^1 = 2.0 is below min_loss_scale (4.0)"));
}

TEST_CASE("precision: fp16-only keys are ignored for bf16") {
  MixedPrecisionStrategy strategy(
      options_from(precision_option_schema(),
                   {{"dtype", "bf16"}, {"initial_scale_power", std::int64_t{1}}, {"min_loss_scale", 4.0}}));
  CHECK(errors_of(strategy.check({}), ErrorCategory::invalid_input).empty());
}
