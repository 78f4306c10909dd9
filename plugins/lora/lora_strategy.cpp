#include "lora_strategy.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include <nlohmann/json.hpp>

#include "plan_text.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

constexpr std::string_view all_linear = "all-linear";

// Indices into SiteAdapterTensors, in the order site_layout() declares them.
enum ParameterIndex : std::size_t { lora_a = 0, lora_b = 1 };
enum ActivationIndex : std::size_t { hidden = 0, hidden_gradient = 1, dropped_input = 2 };

// The first `rows` rows of a host-allocated activation, matching the pass's token count.
sdk::TensorRef first_rows(sdk::TensorRef tensor, std::int64_t rows) {
  tensor.rows = rows;
  return tensor;
}

std::string describe_initialisation(std::string_view init_lora_weights) {
  if (init_lora_weights == "true") return "A kaiming-uniform, B zeros (the model's output is unchanged at step 0)";
  if (init_lora_weights == "gaussian") return "A ~ N(0, 1/r^2), B zeros (the model's output is unchanged at step 0)";
  return "A and B random (PEFT's debugging mode: the model's output changes at step 0)";
}

}  // namespace

sdk::OptionSchema lora_option_schema() {
  sdk::OptionSchema schema;
  schema.add_int("r", 8, "rank of the update B @ A added to each targeted weight").at_least(1);
  schema.add_float("lora_alpha", 8.0, "scale numerator: the update is multiplied by lora_alpha / r");
  schema.add_float("lora_dropout", 0.0, "dropout probability on the LoRA branch's input only (the base layer sees x)")
      .at_least(0.0)
      .below(1.0);
  // PEFT picks a per-architecture default when target_modules is unset; ours is its Llama entry.
  schema.add_string_list("target_modules", {"q_proj", "v_proj"},
                         "module names to adapt (full name or '.'-suffix, PEFT's rule); all-linear = every "
                         "linear except the output head; default is PEFT's Llama choice");
  schema.add_bool("use_rslora", false, "rank-stabilised LoRA: scale by lora_alpha / sqrt(r) instead of lora_alpha / r");
  schema.add_enum("init_lora_weights", "true", {"true", "false", "gaussian"},
                  "true: A kaiming-uniform, B zeros; gaussian: A ~ N(0, 1/r^2), B zeros; false: both random");
  schema.add_enum("bias", "none", {"none", "all", "lora_only"},
                  "which biases train; only none is supported (PEFT's default)");
  schema.add_string_list("modules_to_save", {}, "modules trained and saved in full beside the adapters (e.g. lm_head)");
  schema.add_bool("fan_in_fan_out", false, "the base weight is stored (in, out), as GPT-2's Conv1D does");
  return schema;
}

LoraStrategy::LoraStrategy(const sdk::Options& options)
    : adapter_rank_(options.get_int("r")),
      lora_alpha_(options.get_float("lora_alpha")),
      lora_dropout_(options.get_float("lora_dropout")),
      target_modules_(options.get_string_list("target_modules")),
      use_rslora_(options.get_bool("use_rslora")),
      init_lora_weights_(options.get_string("init_lora_weights")),
      bias_(options.get_string("bias")),
      modules_to_save_(options.get_string_list("modules_to_save")),
      fan_in_fan_out_(options.get_bool("fan_in_fan_out")) {}

double LoraStrategy::scaling() const {
  if (adapter_rank_ <= 0) return 0.0;  // check() reports the rank; a plan must still print
  auto rank = static_cast<double>(adapter_rank_);
  return use_rslora_ ? lora_alpha_ / std::sqrt(rank) : lora_alpha_ / rank;
}

bool LoraStrategy::targets(const sdk::LinearSite& site) const {
  if (wants_all_linear() && !site.is_output_head) return true;
  return site_matches_any(site, target_modules_);
}

bool LoraStrategy::wants_all_linear() const {
  // PEFT only understands all-linear as the whole value; inside a list we read it as "also every
  // linear", which can only add sites.
  return std::find(target_modules_.begin(), target_modules_.end(), all_linear) != target_modules_.end();
}

bool LoraStrategy::saves_whole_module(const sdk::LinearSite& site) const {
  return site_matches_any(site, modules_to_save_);
}

std::int64_t LoraStrategy::trainable_parameters(const sdk::LinearSite& site) const {
  std::int64_t count = 0;
  if (targets(site)) count += adapter_rank_ * (site.in_features + site.out_features);
  if (saves_whole_module(site)) count += site.in_features * site.out_features + (site.has_bias ? site.out_features : 0);
  return count;
}

sdk::Errors LoraStrategy::check(const sdk::PipelineFacts& facts) const {
  sdk::Errors errors;
  if (adapter_rank_ < 1) {
    errors.push_back(sdk::Error::invalid_input("r must be at least 1 (got " + std::to_string(adapter_rank_) + ")"));
  }
  if (target_modules_.empty()) {
    errors.push_back(
        sdk::Error::invalid_input("target_modules is empty: name at least one module (e.g. q_proj) or all-linear"));
  } else if (!facts.sites.empty() && std::none_of(facts.sites.begin(), facts.sites.end(),
                                                  [&](const sdk::LinearSite& site) { return targets(site); })) {
    // PEFT raises "Target modules ... not found in the base model" for the same mistake.
    errors.push_back(sdk::Error::invalid_input(
        "target_modules [" + join_names(target_modules_) + "] match none of the model's " +
        std::to_string(facts.sites.size()) +
        " linear sites (an entry matches a full name or a '.'-separated suffix, e.g. q_proj)"));
  }
  if (bias_ != "none") {
    errors.push_back(sdk::Error::not_implemented("bias: " + bias_ +
                                                 " is not supported: only bias: none (no bias terms are trained)"));
  }
  return errors;
}

std::vector<std::string> LoraStrategy::describe_plan(const sdk::PipelineFacts& facts) const {
  std::string targets_text = wants_all_linear() && target_modules_.size() == 1
                                 ? "all linear layers except the output head"
                                 : join_names(target_modules_);
  std::string scale_text = (use_rslora_ ? "rsLoRA scale " : "scale ") + format_decimal(scaling());

  std::vector<std::string> lines;
  lines.push_back("lora: r=" + std::to_string(adapter_rank_) + ", lora_alpha=" + format_whole_or_decimal(lora_alpha_) +
                  " (" + scale_text + "), dropout " + format_decimal(lora_dropout_) + ", targets " + targets_text);
  lines.push_back("lora: init " + describe_initialisation(init_lora_weights_));
  if (!modules_to_save_.empty()) lines.push_back("lora: also trains full copies of " + join_names(modules_to_save_));
  if (fan_in_fan_out_) lines.push_back("lora: fan_in_fan_out: base weights are read as (in, out)");

  if (!facts.sites.empty()) {
    std::int64_t targeted_sites = 0;
    std::int64_t trainable = 0;
    for (const sdk::LinearSite& site : facts.sites) {
      if (targets(site)) ++targeted_sites;
      trainable += trainable_parameters(site);
    }
    lines.push_back("lora: adapts " + std::to_string(targeted_sites) + " of " + std::to_string(facts.sites.size()) +
                    " linear sites, " + format_count(trainable) + " trainable parameters");
  }
  return lines;
}


sdk::SiteAdapterLayout LoraStrategy::site_layout(const sdk::LinearSite& site) const {
  sdk::SiteAdapterLayout layout;
  layout.parameters = {{"lora_A.weight", adapter_rank_, site.in_features},
                       {"lora_B.weight", site.out_features, adapter_rank_}};
  layout.activations = {{"hidden", 0, adapter_rank_}, {"hidden_gradient", 0, adapter_rank_}};
  // PEFT's autograd keeps dropout(x) for A's gradient; so does this, only when dropout is on.
  if (lora_dropout_ > 0.0) layout.activations.push_back({"dropped_input", 0, site.in_features});
  return layout;
}

void LoraStrategy::initialize(const sdk::LinearSite& site, const sdk::SiteAdapterTensors& tensors, std::uint64_t seed,
                              sdk::Ops& ops) const {
  const sdk::TensorRef& a = tensors.parameters[lora_a];
  const sdk::TensorRef& b = tensors.parameters[lora_b];
  // kaiming_uniform_(a=sqrt(5)) on [r, in]: gain sqrt(1/3) times sqrt(3 / fan_in) = 1 / sqrt(in)
  const auto a_bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(site.in_features)));
  if (init_lora_weights_ == "gaussian") {
    ops.fill_normal(a, 0.0f, static_cast<float>(1.0 / static_cast<double>(adapter_rank_)), seed);
  } else {
    ops.fill_uniform(a, -a_bound, a_bound, seed);
  }
  if (init_lora_weights_ == "false") {
    // PEFT leaves nn.Linear's own init on B: kaiming-uniform over its fan-in r.
    const auto b_bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(adapter_rank_)));
    ops.fill_uniform(b, -b_bound, b_bound, seed ^ 0x5bd1e995ULL);
  } else {
    ops.fill(b, 0.0f);
  }
}

// input [N, in], output [N, out]; hidden [N, r] = dropout(input) @ A^T is kept for backward.
void LoraStrategy::forward(const sdk::LinearSite& /*site*/, const sdk::SiteAdapterTensors& tensors,
                           const sdk::TensorRef& input, const sdk::TensorRef& output, const sdk::AdapterPass& pass,
                           sdk::Ops& ops) const {
  const std::int64_t tokens = input.rows;
  sdk::TensorRef lora_input = input;
  if (drops_out(pass)) {
    lora_input = first_rows(tensors.activations[dropped_input], tokens);
    ops.dropout(lora_input, input, static_cast<float>(lora_dropout_), pass.seed);
  }
  const sdk::TensorRef hidden_rows = first_rows(tensors.activations[hidden], tokens);
  ops.matmul(hidden_rows, lora_input, false, tensors.parameters[lora_a], true, 1.0f, 0.0f);
  ops.matmul(output, hidden_rows, false, tensors.parameters[lora_b], true, static_cast<float>(scaling()), 1.0f);
}

// d_output [N, out]. With s = scaling and h = hidden:
//   dB += s * d_output^T @ h      dh = s * d_output @ B      dA += dh^T @ dropout(x)
//   d_input += dropout'(dh @ A)   (the same mask, regenerated from the pass's seed)
void LoraStrategy::backward(const sdk::LinearSite& /*site*/, const sdk::SiteAdapterTensors& tensors,
                            const sdk::TensorRef& input, const sdk::TensorRef& d_output, const sdk::TensorRef& d_input,
                            const sdk::AdapterPass& pass, sdk::Ops& ops) const {
  const std::int64_t tokens = input.rows;
  const auto s = static_cast<float>(scaling());
  const bool dropped = drops_out(pass);
  const sdk::TensorRef lora_input = dropped ? first_rows(tensors.activations[dropped_input], tokens) : input;
  const sdk::TensorRef hidden_rows = first_rows(tensors.activations[hidden], tokens);
  const sdk::TensorRef d_hidden = first_rows(tensors.activations[hidden_gradient], tokens);

  ops.matmul(tensors.gradients[lora_b], d_output, true, hidden_rows, false, s, 1.0f);
  ops.matmul(d_hidden, d_output, false, tensors.parameters[lora_b], false, s, 0.0f);
  ops.matmul(tensors.gradients[lora_a], d_hidden, true, lora_input, false, 1.0f, 1.0f);
  if (!d_input.defined()) return;
  if (!dropped) {
    ops.matmul(d_input, d_hidden, false, tensors.parameters[lora_a], false, 1.0f, 1.0f);
    return;
  }
  // dropout(x) is no longer needed (A's gradient is formed): its buffer holds dh @ A, masked.
  ops.matmul(lora_input, d_hidden, false, tensors.parameters[lora_a], false, 1.0f, 0.0f);
  ops.dropout(lora_input, lora_input, static_cast<float>(lora_dropout_), pass.seed);
  ops.add_scaled(d_input, lora_input, 1.0f);
}

void LoraStrategy::merge(const sdk::LinearSite& /*site*/, const sdk::SiteAdapterTensors& tensors,
                         const sdk::TensorRef& weight, sdk::Ops& ops) const {
  ops.matmul(weight, tensors.parameters[lora_b], false, tensors.parameters[lora_a], false,
             static_cast<float>(scaling()), 1.0f);
}

std::string LoraStrategy::saved_module_tensor_name(std::string_view parameter) const {
  return "base_model.model." + std::string(parameter);
}

std::string LoraStrategy::saved_tensor_name(const sdk::LinearSite& site, const sdk::AdapterTensor& tensor) const {
  return "base_model.model." + site.name + "." + tensor.name;
}

// The fields PEFT's LoraConfig writes (peft >= 0.10), so PeftModel.from_pretrained reads it.
std::string LoraStrategy::adapter_config_json(std::string_view base_model_name_or_path) const {
  nlohmann::ordered_json config;
  config["alpha_pattern"] = nlohmann::json::object();
  config["auto_mapping"] = nullptr;
  config["base_model_name_or_path"] = std::string(base_model_name_or_path);
  config["bias"] = bias_;
  config["fan_in_fan_out"] = fan_in_fan_out_;
  config["inference_mode"] = true;
  if (init_lora_weights_ == "gaussian") {
    config["init_lora_weights"] = "gaussian";
  } else {
    config["init_lora_weights"] = init_lora_weights_ == "true";
  }
  config["layers_pattern"] = nullptr;
  config["layers_to_transform"] = nullptr;
  config["lora_alpha"] = lora_alpha_;
  config["lora_dropout"] = lora_dropout_;
  config["modules_to_save"] = modules_to_save_.empty() ? nlohmann::json(nullptr) : nlohmann::json(modules_to_save_);
  config["peft_type"] = "LORA";
  config["r"] = adapter_rank_;
  config["rank_pattern"] = nlohmann::json::object();
  config["revision"] = nullptr;
  if (wants_all_linear() && target_modules_.size() == 1) {
    config["target_modules"] = std::string(all_linear);
  } else {
    config["target_modules"] = target_modules_;
  }
  config["task_type"] = "CAUSAL_LM";
  config["use_dora"] = false;
  config["use_rslora"] = use_rslora_;
  return config.dump(2) + "\n";
}

}  // namespace fthost::plugins
