#include "megatron_strategy.hpp"

#include <string_view>

#include "plan_text.hpp"

namespace fthost::plugins {
namespace {

// Everything this plugin validates but cannot do yet: no rank splits layers or exchanges
// activations in this build. Delete this helper when model parallelism runs.
sdk::Errors megatron_behaviour_not_implemented() {
  return {sdk::Error::not_implemented(
      "tensor, sequence and pipeline parallelism are not implemented yet (validation only in this build)")};
}

// "num_attention_heads (12) is not divisible by tensor_model_parallel_size (5)", Megatron's wording.
void require_divisible(std::string_view dividend_name, std::int64_t dividend, std::string_view divisor_text,
                       std::int64_t divisor, sdk::Errors& errors) {
  if (divisor > 0 && dividend % divisor == 0) return;
  errors.push_back(sdk::Error::invalid_input(std::string(dividend_name) + " (" + std::to_string(dividend) +
                                             ") is not divisible by " + std::string(divisor_text)));
}

std::string named_size(std::string_view name, std::int64_t size) {
  return std::string(name) + " (" + std::to_string(size) + ")";
}

}  // namespace

sdk::OptionSchema megatron_option_schema() {
  sdk::OptionSchema schema;
  schema.add_int("tensor_model_parallel_size", 1, "ranks each linear is split over (column- or row-parallel)")
      .at_least(1);
  schema.add_int("pipeline_model_parallel_size", 1, "pipeline stages the layers are split into").at_least(1);
  schema.add_bool(
      "sequence_parallel", false,
      "split norm and dropout activations along the sequence over the tensor-parallel ranks (needs tp > 1)");
  // Megatron-Core's ModelParallelConfig says None for "no interleaving"; a YAML integer says 1.
  schema
      .add_int("virtual_pipeline_model_parallel_size", 1,
               "model chunks per pipeline rank for the interleaved 1F1B schedule; 1 = no interleaving")
      .at_least(1);
  schema.add_bool("overlap_p2p_comm", false, "overlap pipeline send/receive with compute (interleaved schedule only)");
  schema.add_bool("tp_comm_overlap", false,
                  "overlap tensor-parallel communication with GEMMs (needs sequence_parallel)");
  schema.add_bool("use_distributed_optimizer", false, "partition optimizer states over the data-parallel ranks");
  return schema;
}

MegatronStrategy::MegatronStrategy(const sdk::Options& options)
    : tensor_parallel_(options.get_int("tensor_model_parallel_size")),
      pipeline_parallel_(options.get_int("pipeline_model_parallel_size")),
      sequence_parallel_(options.get_bool("sequence_parallel")),
      virtual_pipeline_stages_(options.get_int("virtual_pipeline_model_parallel_size")),
      overlap_p2p_comm_(options.get_bool("overlap_p2p_comm")),
      tp_comm_overlap_(options.get_bool("tp_comm_overlap")),
      use_distributed_optimizer_(options.get_bool("use_distributed_optimizer")) {}

sdk::ParallelLayout MegatronStrategy::layout() const {
  sdk::ParallelLayout layout;
  layout.tensor_parallel = static_cast<int>(tensor_parallel_);
  layout.pipeline_parallel = static_cast<int>(pipeline_parallel_);
  layout.sequence_parallel = sequence_parallel_;
  layout.virtual_pipeline_stages = static_cast<int>(virtual_pipeline_stages_);
  return layout;
}

sdk::Errors MegatronStrategy::check(const sdk::PipelineFacts& facts) const {
  sdk::Errors errors;
  std::int64_t model_parallel = tensor_parallel_ * pipeline_parallel_;
  require_divisible("world_size", facts.world_size,
                    named_size("tensor_model_parallel_size", tensor_parallel_) + " x " +
                        named_size("pipeline_model_parallel_size", pipeline_parallel_) + " = " +
                        std::to_string(model_parallel),
                    model_parallel, errors);

  if (sequence_parallel_ && tensor_parallel_ == 1) {
    // Megatron quietly turns it off at tp = 1; a YAML that asks for it is more likely a mistake.
    errors.push_back(
        sdk::Error::invalid_input("sequence_parallel needs tensor_model_parallel_size > 1: it splits activations over "
                                  "the tensor-parallel ranks"));
  }
  if (tp_comm_overlap_ && !sequence_parallel_) {
    errors.push_back(
        sdk::Error::invalid_input("tp_comm_overlap needs sequence_parallel: tensor-parallel communication/GEMM overlap "
                                  "happens only when sequence "
                                  "parallelism is enabled"));
  }
  if (virtual_pipeline_stages_ > 1 && pipeline_parallel_ == 1) {
    errors.push_back(sdk::Error::invalid_input(
        "virtual_pipeline_model_parallel_size (" + std::to_string(virtual_pipeline_stages_) +
        ") needs pipeline_model_parallel_size > 1: the interleaved schedule splits each pipeline rank's layers"));
  } else if (virtual_pipeline_stages_ > 1 && pipeline_parallel_ == 2 && !overlap_p2p_comm_) {
    errors.push_back(sdk::Error::invalid_input(
        "with virtual_pipeline_model_parallel_size > 1 and overlap_p2p_comm false, pipeline_model_parallel_size (2) "
        "must be greater than 2, to avoid several p2p sends and receives between the same 2 ranks per communication "
        "batch"));
  }
  if (facts.model) check_model(*facts.model, errors);
  for (sdk::Error& missing : megatron_behaviour_not_implemented()) errors.push_back(std::move(missing));
  return errors;
}

void MegatronStrategy::check_model(const sdk::ModelShape& model, sdk::Errors& errors) const {
  std::string tensor_parallel_text = named_size("tensor_model_parallel_size", tensor_parallel_);
  require_divisible("num_attention_heads", model.num_attention_heads, tensor_parallel_text, tensor_parallel_, errors);
  // With fewer key/value heads than tensor-parallel ranks Megatron gives each rank one (replicated) group.
  if (model.num_key_value_heads >= tensor_parallel_) {
    require_divisible("num_key_value_heads", model.num_key_value_heads, tensor_parallel_text, tensor_parallel_, errors);
  }
  require_divisible("intermediate_size", model.intermediate_size, tensor_parallel_text, tensor_parallel_, errors);

  std::string pipeline_text = named_size("pipeline_model_parallel_size", pipeline_parallel_);
  if (virtual_pipeline_stages_ > 1) {
    std::int64_t chunks = pipeline_parallel_ * virtual_pipeline_stages_;
    pipeline_text += " x " + named_size("virtual_pipeline_model_parallel_size", virtual_pipeline_stages_) + " = " +
                     std::to_string(chunks);
    require_divisible("num_layers", model.num_layers, pipeline_text, chunks, errors);
  } else {
    require_divisible("num_layers", model.num_layers, pipeline_text, pipeline_parallel_, errors);
  }
}

std::vector<std::string> MegatronStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::int64_t model_parallel = tensor_parallel_ * pipeline_parallel_;
  std::string replicas = facts.world_size % model_parallel == 0
                             ? ", data parallel " + std::to_string(facts.world_size / model_parallel)
                             : "";
  std::vector<std::string> lines;
  lines.push_back("megatron: tensor_model_parallel_size " + std::to_string(tensor_parallel_) +
                  " x pipeline_model_parallel_size " + std::to_string(pipeline_parallel_) + " = " +
                  std::to_string(model_parallel) + " ranks per model replica" + replicas + " (world_size " +
                  std::to_string(facts.world_size) + ")");

  if (pipeline_parallel_ == 1) {
    lines.push_back("megatron: no pipelining: micro-batches run forward then backward on every rank");
  } else if (virtual_pipeline_stages_ > 1) {
    lines.push_back("megatron: interleaved 1F1B schedule, " + std::to_string(virtual_pipeline_stages_) +
                    " model chunks per pipeline rank (bubble shrinks by that factor, p2p traffic grows by it)");
  } else {
    lines.push_back(
        "megatron: 1F1B schedule: stage r runs pipeline_model_parallel_size - r - 1 warmup forwards, so stage 0 "
        "holds at most " +
        std::to_string(pipeline_parallel_) + " micro-batches of activations");
  }
  if (overlap_p2p_comm_ && virtual_pipeline_stages_ == 1) {
    lines.push_back(
        "megatron: overlap_p2p_comm has no effect without the interleaved schedule (Megatron turns it off)");
  }
  if (sequence_parallel_) {
    lines.push_back("megatron: sequence parallel: norm and dropout activations split 1/" +
                    std::to_string(tensor_parallel_) + " along the sequence" +
                    (tp_comm_overlap_ ? ", communication overlapped with GEMMs" : ""));
  }
  if (use_distributed_optimizer_) {
    lines.push_back("megatron: distributed optimizer: optimizer states partitioned over the data-parallel ranks");
  }

  if (facts.model && pipeline_parallel_ > 1 && facts.model->num_layers % pipeline_parallel_ == 0) {
    lines.push_back("megatron: " + std::to_string(facts.model->num_layers / pipeline_parallel_) +
                    " layers per pipeline stage");
  }
  if (tensor_parallel_ > 1 && !facts.sites.empty()) {
    std::int64_t column_sites = 0;
    std::int64_t row_sites = 0;
    for (const sdk::LinearSite& site : facts.sites) {
      if (site.role == sdk::SiteRole::column)
        ++column_sites;
      else
        ++row_sites;
    }
    lines.push_back("megatron: splits " + std::to_string(column_sites) +
                    " column-parallel sites (output features) and " + std::to_string(row_sites) +
                    " row-parallel sites (input features) " + std::to_string(tensor_parallel_) + " ways");
  }
  return lines;
}

}  // namespace fthost::plugins
