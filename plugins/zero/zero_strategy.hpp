#pragma once
// DeepSpeed ZeRO: which model states (optimizer states, gradients, parameters) are partitioned over
// the data-parallel ranks and which live in host memory. Option names and defaults are DeepSpeed's
// zero_optimization section (deepspeed/runtime/zero/config.py); sizes count elements, not bytes.

#include <cstdint>
#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

sdk::OptionSchema zero_option_schema();

class ZeroStrategy final : public sdk::ShardingStrategy {
 public:
  // `options` holds every key of zero_option_schema(), already validated by the host.
  explicit ZeroStrategy(const sdk::Options& options);

  // Stage 1 partitions optimizer states, 2 adds gradients, 3 adds parameters; the *_on_host flags
  // repeat the offload devices as written (check() rejects the combinations DeepSpeed rejects).
  sdk::ShardingLayout layout() const override;

  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

  // DeepSpeed resolves an unset overlap_comm to true for stage 3 and false otherwise.
  bool overlaps_communication() const;

 private:
  std::int64_t stage_;
  bool contiguous_gradients_;
  std::string overlap_comm_;  // auto, true or false
  bool reduce_scatter_;
  std::int64_t reduce_bucket_size_;
  bool allgather_partitions_;
  std::int64_t allgather_bucket_size_;
  std::string offload_optimizer_device_;
  bool offload_optimizer_pin_memory_;
  std::string offload_param_device_;
  bool offload_param_pin_memory_;
  std::int64_t stage3_prefetch_bucket_size_;
  std::int64_t stage3_param_persistence_threshold_;
  std::int64_t stage3_max_live_parameters_;
  std::int64_t stage3_max_reuse_distance_;
  bool stage3_gather_16bit_weights_on_model_save_;
  bool round_robin_gradients_;
  std::int64_t sub_group_size_;
};

}  // namespace fthost::plugins
