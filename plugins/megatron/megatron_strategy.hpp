#pragma once
// Megatron-style model parallelism: tensor parallel (column/row-parallel linears), sequence
// parallel, and pipeline parallel with the 1F1B or interleaved 1F1B schedule. Option names are
// Megatron-Core's ModelParallelConfig fields (the --tensor-model-parallel-size flags, underscored).

#include <cstdint>
#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

sdk::OptionSchema megatron_option_schema();

class MegatronStrategy final : public sdk::ParallelismStrategy {
 public:
  // `options` holds every key of megatron_option_schema(), already validated by the host.
  explicit MegatronStrategy(const sdk::Options& options);

  sdk::ParallelLayout layout() const override;

  // Megatron's configuration checks (parallel_state.py, arguments.py), with the arithmetic in the message.
  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

 private:
  void check_model(const sdk::ModelShape& model, sdk::Errors& errors) const;

  std::int64_t tensor_parallel_;
  std::int64_t pipeline_parallel_;
  bool sequence_parallel_;
  std::int64_t virtual_pipeline_stages_;
  bool overlap_p2p_comm_;
  bool tp_comm_overlap_;
  bool use_distributed_optimizer_;
};

}  // namespace fthost::plugins
