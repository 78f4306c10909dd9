#include "lora_strategy.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "plan_text.hpp"
#include "site_selection.hpp"

namespace fthost::plugins {
namespace {

constexpr std::string_view all_linear = "all-linear";

// Everything this plugin validates but cannot do yet. No training loop exists in this build, so a
// pipeline that asks for LoRA is refused here; delete this helper when adapters train.
sdk::Errors lora_behaviour_not_implemented() {
  return {sdk::Error::not_implemented("LoRA training is not implemented yet (validation only in this build)")};
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
  for (sdk::Error& missing : lora_behaviour_not_implemented()) errors.push_back(std::move(missing));
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

}  // namespace fthost::plugins
