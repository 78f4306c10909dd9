#include "zero_strategy.hpp"

#include <string_view>

#include "plan_text.hpp"

namespace fthost::plugins {
namespace {

// DeepSpeed's stage 1/2 optimizer pads and aligns buckets to nccl_start_alignment_factor = 2 elements.
constexpr std::int64_t stage_1_and_2_alignment = 2;

// Everything this plugin validates but cannot do yet: no state is partitioned in this build. Delete
// this helper when ZeRO partitions.
sdk::Errors zero_behaviour_not_implemented(std::int64_t stage) {
  return {sdk::Error::not_implemented("ZeRO stage " + std::to_string(stage) +
                                      " is not implemented yet (validation only in this build)")};
}

// DeepSpeed can also offload to NVMe (ZeRO-Infinity); fthost deliberately supports none and cpu only.
void reject_nvme(std::string_view key, std::string_view device, sdk::Errors& errors) {
  if (device != "nvme") return;
  errors.push_back(
      sdk::Error::not_implemented(std::string(key) + ": nvme is not supported: fthost offloads to none or cpu only"));
}

std::string describe_partitioning(std::int64_t stage) {
  switch (stage) {
    case 0:
      return "stage 0: nothing partitioned, gradients all-reduced (2x the parameter count sent per rank per step)";
    case 1:
      return "stage 1: optimizer states partitioned over the data-parallel ranks; gradients reduce-scattered, updated "
             "parameters all-gathered (2x the parameter count sent per rank per step)";
    case 2:
      return "stage 2: optimizer states and gradients partitioned over the data-parallel ranks (2x the parameter count "
             "sent per rank per step)";
    default:
      return "stage 3: optimizer states, gradients and parameters partitioned over the data-parallel ranks; parameters "
             "all-gathered in forward and backward (3x the parameter count sent per rank per step)";
  }
}

}  // namespace

sdk::OptionSchema zero_option_schema() {
  sdk::OptionSchema schema;
  schema
      .add_int("stage", 0,
               "0 none, 1 optimizer states, 2 + gradients, 3 + parameters partitioned over data-parallel ranks")
      .range(0, 3);
  schema.add_bool("contiguous_gradients", true, "copy gradients into one contiguous buffer as they are produced");
  // DeepSpeed's default is None, resolved to true for stage 3 and false otherwise: auto says that.
  schema.add_enum("overlap_comm", "auto", {"auto", "true", "false"},
                  "overlap gradient reduction with backward; auto = true for stage 3, false otherwise (DeepSpeed)");
  schema.add_bool("reduce_scatter", true, "reduce gradients with reduce-scatter instead of all-reduce");
  schema.add_int("reduce_bucket_size", 500000000, "elements reduced at a time").at_least(1);
  schema.add_bool("allgather_partitions", true,
                  "stage 1/2: all-gather updated parameters instead of broadcasting each partition");
  schema.add_int("allgather_bucket_size", 500000000, "stage 1/2: elements all-gathered at a time").at_least(1);
  schema.add_enum("offload_optimizer.device", "none", {"none", "cpu", "nvme"},
                  "where optimizer states and fp32 master weights live (stage 1-3); nvme is not supported");
  schema.add_bool("offload_optimizer.pin_memory", true, "page-lock offloaded optimizer memory for faster copies");
  schema.add_enum("offload_param.device", "none", {"none", "cpu", "nvme"},
                  "where partitioned parameters live (stage 3 only); nvme is not supported");
  schema.add_bool("offload_param.pin_memory", true, "page-lock offloaded parameter memory for faster copies");
  schema.add_int("stage3_prefetch_bucket_size", 50000000, "stage 3: elements of parameters fetched ahead of use")
      .at_least(0)
      .alias("prefetch_bucket_size");
  schema
      .add_int("stage3_param_persistence_threshold", 100000,
               "stage 3: parameters with at most this many elements are not partitioned")
      .at_least(0);
  schema.add_int("stage3_max_live_parameters", 1000000000, "stage 3: parameters resident per rank before release")
      .at_least(0);
  schema
      .add_int("stage3_max_reuse_distance", 1000000000,
               "stage 3: keep a parameter if it is reused within this many parameters")
      .at_least(0);
  schema.add_bool("stage3_gather_16bit_weights_on_model_save", false,
                  "stage 3: gather the full 16-bit weights when the model is saved");
  schema.add_bool("round_robin_gradients", false,
                  "stage 1/2 with cpu offload: copy gradients to host in parallel across ranks");
  schema.add_int("sub_group_size", 1000000000, "stage 3: elements per optimizer step tile").at_least(1);
  return schema;
}

ZeroStrategy::ZeroStrategy(const sdk::Options& options)
    : stage_(options.get_int("stage")),
      contiguous_gradients_(options.get_bool("contiguous_gradients")),
      overlap_comm_(options.get_string("overlap_comm")),
      reduce_scatter_(options.get_bool("reduce_scatter")),
      reduce_bucket_size_(options.get_int("reduce_bucket_size")),
      allgather_partitions_(options.get_bool("allgather_partitions")),
      allgather_bucket_size_(options.get_int("allgather_bucket_size")),
      offload_optimizer_device_(options.get_string("offload_optimizer.device")),
      offload_optimizer_pin_memory_(options.get_bool("offload_optimizer.pin_memory")),
      offload_param_device_(options.get_string("offload_param.device")),
      offload_param_pin_memory_(options.get_bool("offload_param.pin_memory")),
      stage3_prefetch_bucket_size_(options.get_int("stage3_prefetch_bucket_size")),
      stage3_param_persistence_threshold_(options.get_int("stage3_param_persistence_threshold")),
      stage3_max_live_parameters_(options.get_int("stage3_max_live_parameters")),
      stage3_max_reuse_distance_(options.get_int("stage3_max_reuse_distance")),
      stage3_gather_16bit_weights_on_model_save_(options.get_bool("stage3_gather_16bit_weights_on_model_save")),
      round_robin_gradients_(options.get_bool("round_robin_gradients")),
      sub_group_size_(options.get_int("sub_group_size")) {}

sdk::ShardingLayout ZeroStrategy::layout() const {
  sdk::ShardingLayout layout;
  layout.optimizer_states = stage_ >= 1;
  layout.gradients = stage_ >= 2;
  layout.parameters = stage_ >= 3;
  layout.optimizer_on_host = offload_optimizer_device_ == "cpu";
  layout.parameters_on_host = offload_param_device_ == "cpu";
  return layout;
}

bool ZeroStrategy::overlaps_communication() const {
  if (overlap_comm_ == "auto") return stage_ == 3;
  return overlap_comm_ == "true";
}

sdk::Errors ZeroStrategy::check(const sdk::PipelineFacts& /*facts*/) const {
  sdk::Errors errors;
  if (offload_param_device_ != "none" && stage_ != 3) {
    errors.push_back(sdk::Error::invalid_input(
        "offload_param.device: " + offload_param_device_ +
        " needs stage 3 (only partitioned parameters can be offloaded); stage is " + std::to_string(stage_)));
  }
  if (offload_optimizer_device_ != "none" && stage_ == 0) {
    errors.push_back(sdk::Error::invalid_input(
        "offload_optimizer.device: " + offload_optimizer_device_ +
        " needs stage 1, 2 or 3 (the offloaded optimizer is ZeRO's partitioned one); stage is 0"));
  }
  reject_nvme("offload_optimizer.device", offload_optimizer_device_, errors);
  reject_nvme("offload_param.device", offload_param_device_, errors);
  if ((stage_ == 1 || stage_ == 2) && allgather_bucket_size_ % stage_1_and_2_alignment != 0) {
    errors.push_back(sdk::Error::invalid_input("allgather_bucket_size (" + std::to_string(allgather_bucket_size_) +
                                               ") must be a multiple of " + std::to_string(stage_1_and_2_alignment) +
                                               " for stage 1 and 2 (DeepSpeed's nccl_start_alignment_factor)"));
  }
  for (sdk::Error& missing : zero_behaviour_not_implemented(stage_)) errors.push_back(std::move(missing));
  return errors;
}

std::vector<std::string> ZeroStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::vector<std::string> lines;
  lines.push_back("zero: " + describe_partitioning(stage_));
  if (stage_ >= 1 && facts.world_size == 1) {
    lines.push_back("zero: world_size 1: there is no other rank to partition over, so the one rank holds every state");
  }
  if (offload_optimizer_device_ == "cpu") {
    lines.push_back(std::string("zero: optimizer states and fp32 master weights in host memory") +
                    (offload_optimizer_pin_memory_ ? " (pinned)" : ""));
  }
  if (offload_param_device_ == "cpu") {
    lines.push_back(std::string("zero: partitioned parameters in host memory") +
                    (offload_param_pin_memory_ ? " (pinned)" : ""));
  }

  std::string overlap =
      overlap_comm_ == "auto" ? std::string(overlaps_communication() ? "true" : "false") + " (auto)" : overlap_comm_;
  lines.push_back("zero: overlap_comm " + overlap + ", contiguous_gradients " +
                  (contiguous_gradients_ ? "true" : "false") + ", " +
                  (reduce_scatter_ ? "reduce-scatter" : "all-reduce") + " in buckets of " +
                  format_count(reduce_bucket_size_) + " elements");
  if (stage_ == 1 || stage_ == 2) {
    lines.push_back("zero: updated parameters " + std::string(allgather_partitions_ ? "all-gathered" : "broadcast") +
                    " in buckets of " + format_count(allgather_bucket_size_) + " elements" +
                    (round_robin_gradients_ ? ", gradients copied to host round-robin" : ""));
  }
  if (stage_ == 3) {
    lines.push_back("zero: stage 3 prefetches " + format_count(stage3_prefetch_bucket_size_) +
                    " elements, keeps parameters of <= " + format_count(stage3_param_persistence_threshold_) +
                    " elements whole, holds <= " + format_count(stage3_max_live_parameters_) +
                    " live parameters (reuse distance " + format_count(stage3_max_reuse_distance_) +
                    "), steps the optimizer in tiles of " + format_count(sub_group_size_) + " elements" +
                    (stage3_gather_16bit_weights_on_model_save_ ? ", gathers 16-bit weights on save" : ""));
  }
  return lines;
}

}  // namespace fthost::plugins
