#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "megatron_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::plugins::megatron_option_schema;
using fthost::plugins::MegatronStrategy;
using fthost::sdk::ErrorCategory;
using fthost::sdk::ModelShape;
using fthost::sdk::PipelineFacts;
using namespace fthost::testing;

namespace {

MegatronStrategy megatron_with(std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>> overrides = {}) {
  return MegatronStrategy(options_from(megatron_option_schema(), overrides));
}

PipelineFacts world(int world_size) {
  PipelineFacts facts;
  facts.world_size = world_size;
  return facts;
}

// Llama-2-7B: 32 layers, 32 heads (no GQA), intermediate 11008.
ModelShape llama_7b() {
  ModelShape model;
  model.num_layers = 32;
  model.hidden_size = 4096;
  model.num_attention_heads = 32;
  model.num_key_value_heads = 32;
  model.intermediate_size = 11008;
  model.vocab_size = 32000;
  return model;
}

PipelineFacts world_with_model(int world_size, ModelShape model) {
  PipelineFacts facts = world(world_size);
  facts.model = model;
  return facts;
}

}  // namespace

TEST_CASE("megatron: the layout repeats the parallel sizes") {
  fthost::sdk::ParallelLayout layout = megatron_with({{"tensor_model_parallel_size", std::int64_t{4}},
                                                      {"pipeline_model_parallel_size", std::int64_t{2}},
                                                      {"sequence_parallel", true},
                                                      {"virtual_pipeline_model_parallel_size", std::int64_t{2}}})
                                           .layout();
  CHECK(layout.tensor_parallel == 4);
  CHECK(layout.pipeline_parallel == 2);
  CHECK(layout.sequence_parallel);
  CHECK(layout.virtual_pipeline_stages == 2);
  CHECK(megatron_with().layout().virtual_pipeline_stages == 1);
}

TEST_CASE("megatron: world_size must be divisible by tp x pp, and the message states the arithmetic") {
  fthost::sdk::Errors errors = megatron_with({{"tensor_model_parallel_size", std::int64_t{4}}}).check(world(6));
  CHECK(has_error(
      errors, ErrorCategory::invalid_input,
      "world_size (6) is not divisible by tensor_model_parallel_size (4) x pipeline_model_parallel_size (1) = 4"));

  fthost::sdk::Errors fine = megatron_with({{"tensor_model_parallel_size", std::int64_t{2}},
                                            {"pipeline_model_parallel_size", std::int64_t{2}}})
                                 .check(world(8));
  CHECK(errors_of(fine, ErrorCategory::invalid_input).empty());
  REQUIRE(errors_of(fine, ErrorCategory::not_implemented).size() == 1);
}

TEST_CASE("megatron: heads, key/value heads and the MLP must split evenly over tensor-parallel ranks") {
  ModelShape model = llama_7b();
  model.num_attention_heads = 12;
  model.num_key_value_heads = 12;
  model.intermediate_size = 3072;
  fthost::sdk::Errors errors =
      megatron_with({{"tensor_model_parallel_size", std::int64_t{8}}}).check(world_with_model(8, model));
  CHECK(has_error(errors, ErrorCategory::invalid_input,
                  "num_attention_heads (12) is not divisible by tensor_model_parallel_size (8)"));
  CHECK(has_error(errors, ErrorCategory::invalid_input,
                  "num_key_value_heads (12) is not divisible by tensor_model_parallel_size (8)"));
  CHECK(errors_of(errors, ErrorCategory::invalid_input).size() == 2);  // 3072 splits 8 ways

  // Fewer key/value heads than ranks: Megatron gives each rank one group, no error.
  ModelShape grouped = llama_7b();
  grouped.num_key_value_heads = 4;
  CHECK(errors_of(megatron_with({{"tensor_model_parallel_size", std::int64_t{8}}}).check(world_with_model(8, grouped)),
                  ErrorCategory::invalid_input)
            .empty());
}

TEST_CASE("megatron: layers must split evenly over (virtual) pipeline stages") {
  ModelShape model = llama_7b();
  model.num_layers = 30;
  CHECK(has_error(megatron_with({{"pipeline_model_parallel_size", std::int64_t{4}}}).check(world_with_model(4, model)),
                  ErrorCategory::invalid_input,
                  "num_layers (30) is not divisible by pipeline_model_parallel_size (4)"));

  model.num_layers = 36;
  fthost::sdk::Errors interleaved = megatron_with({{"pipeline_model_parallel_size", std::int64_t{4}},
                                                   {"virtual_pipeline_model_parallel_size", std::int64_t{2}}})
                                        .check(world_with_model(4, model));
  CHECK(has_error(interleaved, ErrorCategory::invalid_input,
                  "num_layers (36) is not divisible by pipeline_model_parallel_size (4) x "
                  "virtual_pipeline_model_parallel_size (2) = 8"));
}

TEST_CASE("megatron: sequence_parallel needs tensor parallelism, and tp_comm_overlap needs sequence_parallel") {
  CHECK(has_error(megatron_with({{"sequence_parallel", true}}).check(world(1)), ErrorCategory::invalid_input,
                  "sequence_parallel needs tensor_model_parallel_size > 1"));
  CHECK(
      errors_of(
          megatron_with({{"sequence_parallel", true}, {"tensor_model_parallel_size", std::int64_t{2}}}).check(world(2)),
          ErrorCategory::invalid_input)
          .empty());
  CHECK(has_error(
      megatron_with({{"tp_comm_overlap", true}, {"tensor_model_parallel_size", std::int64_t{2}}}).check(world(2)),
      ErrorCategory::invalid_input, "tp_comm_overlap needs sequence_parallel"));
}

TEST_CASE("megatron: the interleaved schedule needs more than one pipeline stage") {
  CHECK(has_error(megatron_with({{"virtual_pipeline_model_parallel_size", std::int64_t{2}}}).check(world(1)),
                  ErrorCategory::invalid_input, "needs pipeline_model_parallel_size > 1"));
  MegatronStrategy two_stages = megatron_with(
      {{"pipeline_model_parallel_size", std::int64_t{2}}, {"virtual_pipeline_model_parallel_size", std::int64_t{2}}});
  CHECK(has_error(two_stages.check(world(2)), ErrorCategory::invalid_input, "must be greater than 2"));
  MegatronStrategy overlapped = megatron_with({{"pipeline_model_parallel_size", std::int64_t{2}},
                                               {"virtual_pipeline_model_parallel_size", std::int64_t{2}},
                                               {"overlap_p2p_comm", true}});
  CHECK(errors_of(overlapped.check(world(2)), ErrorCategory::invalid_input).empty());
}

TEST_CASE("megatron: the plan states sizes, data parallelism, schedule and split sites") {
  MegatronStrategy strategy = megatron_with(
      {{"tensor_model_parallel_size", std::int64_t{2}}, {"pipeline_model_parallel_size", std::int64_t{2}}});
  PipelineFacts facts = world_with_model(8, llama_7b());
  facts.sites = llama_sites();
  std::vector<std::string> plan = strategy.describe_plan(facts);
  CHECK(plan.at(0) ==
        "megatron: tensor_model_parallel_size 2 x pipeline_model_parallel_size 2 = 4 ranks per model replica, data "
        "parallel 2 (world_size 8)");
  CHECK(contains(plan.at(1), "1F1B"));
  CHECK(contains(plan.at(1), "stage 0 holds at most 2 micro-batches"));
  CHECK(
      plan.back() ==
      "megatron: splits 161 column-parallel sites (output features) and 64 row-parallel sites (input features) 2 ways");
}
