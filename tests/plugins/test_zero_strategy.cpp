#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "strategy_test_support.hpp"
#include "zero_strategy.hpp"

using fthost::plugins::zero_option_schema;
using fthost::plugins::ZeroStrategy;
using fthost::sdk::ErrorCategory;
using fthost::sdk::ShardingLayout;
using namespace fthost::testing;

namespace {

ZeroStrategy zero_with(std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>> overrides = {}) {
  return ZeroStrategy(options_from(zero_option_schema(), overrides));
}

ZeroStrategy zero_stage(std::int64_t stage) { return zero_with({{"stage", stage}}); }

}  // namespace

TEST_CASE("zero: defaults are DeepSpeed's code defaults (element counts), not its docs table") {
  fthost::sdk::Options options = options_from(zero_option_schema());
  CHECK(options.get_int("stage") == 0);
  CHECK(options.get_int("reduce_bucket_size") == 500000000);
  CHECK(options.get_int("allgather_bucket_size") == 500000000);
  CHECK(options.get_int("stage3_prefetch_bucket_size") == 50000000);
  CHECK(options.get_int("stage3_param_persistence_threshold") == 100000);
  CHECK(options.get_bool("offload_optimizer.pin_memory"));
  CHECK(zero_option_schema().find_by_name_or_alias("prefetch_bucket_size")->name == "stage3_prefetch_bucket_size");
}

TEST_CASE("zero: each stage partitions one more kind of model state") {
  ShardingLayout stage0 = zero_stage(0).layout();
  CHECK_FALSE(stage0.optimizer_states);
  CHECK_FALSE(stage0.gradients);
  CHECK_FALSE(stage0.parameters);

  ShardingLayout stage1 = zero_stage(1).layout();
  CHECK(stage1.optimizer_states);
  CHECK_FALSE(stage1.gradients);

  ShardingLayout stage2 = zero_stage(2).layout();
  CHECK(stage2.optimizer_states);
  CHECK(stage2.gradients);
  CHECK_FALSE(stage2.parameters);

  ShardingLayout stage3 = zero_stage(3).layout();
  CHECK(stage3.optimizer_states);
  CHECK(stage3.gradients);
  CHECK(stage3.parameters);
  CHECK_FALSE(stage3.optimizer_on_host);
  CHECK_FALSE(stage3.parameters_on_host);
}

TEST_CASE("zero: offload devices set the host flags of the layout") {
  ShardingLayout layout =
      zero_with({{"stage", std::int64_t{3}}, {"offload_optimizer.device", "cpu"}, {"offload_param.device", "cpu"}})
          .layout();
  CHECK(layout.optimizer_on_host);
  CHECK(layout.parameters_on_host);
  CHECK(errors_of(zero_with({{"stage", std::int64_t{3}}, {"offload_param.device", "cpu"}}).check({}),
                  ErrorCategory::invalid_input)
            .empty());
}

TEST_CASE("zero: offload_param needs stage 3, as in DeepSpeed") {
  fthost::sdk::Errors errors = zero_with({{"stage", std::int64_t{2}}, {"offload_param.device", "cpu"}}).check({});
  CHECK(has_error(errors, ErrorCategory::invalid_input, "offload_param.device: cpu needs stage 3"));
  CHECK(has_error(errors, ErrorCategory::invalid_input, "stage is 2"));
  CHECK(has_error(errors, ErrorCategory::not_implemented, "ZeRO stage 2 is not implemented yet"));
}

TEST_CASE("zero: optimizer offload needs a ZeRO stage, and nvme is not supported") {
  CHECK(has_error(zero_with({{"offload_optimizer.device", "cpu"}}).check({}), ErrorCategory::invalid_input,
                  "offload_optimizer.device: cpu needs stage 1, 2 or 3"));
  CHECK(errors_of(zero_with({{"stage", std::int64_t{1}}, {"offload_optimizer.device", "cpu"}}).check({}),
                  ErrorCategory::invalid_input)
            .empty());
  fthost::sdk::Errors nvme = zero_with({{"stage", std::int64_t{3}}, {"offload_optimizer.device", "nvme"}}).check({});
  CHECK(has_error(nvme, ErrorCategory::not_implemented,
                  "offload_optimizer.device: nvme is not supported: fthost offloads to none or cpu only"));
}

TEST_CASE("zero: overlap_comm auto follows DeepSpeed (on for stage 3 only)") {
  CHECK_FALSE(zero_stage(2).overlaps_communication());
  CHECK(zero_stage(3).overlaps_communication());
  CHECK(zero_with({{"stage", std::int64_t{1}}, {"overlap_comm", "true"}}).overlaps_communication());
  CHECK_FALSE(zero_with({{"stage", std::int64_t{3}}, {"overlap_comm", "false"}}).overlaps_communication());
  CHECK(any_line_contains(zero_stage(3).describe_plan({}), "overlap_comm true (auto)"));
  CHECK(any_line_contains(zero_stage(2).describe_plan({}), "overlap_comm false (auto)"));
}

TEST_CASE("zero: stage 1 and 2 buckets must be a multiple of 2 elements") {
  fthost::sdk::Errors odd =
      zero_with({{"stage", std::int64_t{2}}, {"allgather_bucket_size", std::int64_t{500000001}}}).check({});
  CHECK(has_error(odd, ErrorCategory::invalid_input, "allgather_bucket_size (500000001) must be a multiple of 2"));
  fthost::sdk::Errors stage3 =
      zero_with({{"stage", std::int64_t{3}}, {"allgather_bucket_size", std::int64_t{500000001}}}).check({});
  CHECK(errors_of(stage3, ErrorCategory::invalid_input).empty());
}

TEST_CASE("zero: the plan states what is partitioned and the traffic per step") {
  std::vector<std::string> stage3 =
      zero_with({{"stage", std::int64_t{3}}, {"offload_param.device", "cpu"}}).describe_plan({});
  CHECK(contains(stage3.at(0), "optimizer states, gradients and parameters partitioned"));
  CHECK(contains(stage3.at(0), "3x the parameter count"));
  CHECK(any_line_contains(stage3, "partitioned parameters in host memory (pinned)"));
  CHECK(any_line_contains(stage3, "world_size 1: there is no other rank to partition over"));
  CHECK(contains(zero_stage(2).describe_plan({}).at(0), "2x the parameter count"));
}
