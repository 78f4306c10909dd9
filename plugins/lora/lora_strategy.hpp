#pragma once
// PEFT-compatible LoRA: which linear sites get a low-rank A/B pair, how strongly it is scaled and how
// many trainable parameters it adds. Option names and defaults are PEFT's LoraConfig.

#include <cstdint>
#include <string>
#include <vector>

#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::plugins {

sdk::OptionSchema lora_option_schema();

class LoraStrategy final : public sdk::AdapterStrategy {
 public:
  // `options` holds every key of lora_option_schema(), already validated by the host. A missing
  // key throws std::logic_error (a plugin bug), which the plugin's create() turns into an Error.
  explicit LoraStrategy(const sdk::Options& options);

  // PEFT's target_modules rule: a site is adapted when its name equals an entry or ends with
  // "." + entry; `all-linear` adapts every linear except the output head.
  bool targets(const sdk::LinearSite& site) const override;
  // r * (in + out) for a targeted site (A is [r, in], B is [out, r]), plus the whole weight (and
  // bias) of a site listed in modules_to_save, which PEFT trains as a full copy.
  std::int64_t trainable_parameters(const sdk::LinearSite& site) const override;

  sdk::Errors check(const sdk::PipelineFacts& facts) const override;
  std::vector<std::string> describe_plan(const sdk::PipelineFacts& facts) const override;

  // Per site: lora_A.weight [r, in], lora_B.weight [out, r]; activations hidden = A x [tokens, r],
  // its gradient [tokens, r], and with dropout the dropped input [tokens, in].
  sdk::SiteAdapterLayout site_layout(const sdk::LinearSite& site) const override;
  void initialize(const sdk::LinearSite& site, const sdk::SiteAdapterTensors& tensors, std::uint64_t seed,
                  sdk::Ops& ops) const override;
  // output += scaling * B(A(dropout(input)))
  void forward(const sdk::LinearSite& site, const sdk::SiteAdapterTensors& tensors, const sdk::TensorRef& input,
               const sdk::TensorRef& output, const sdk::AdapterPass& pass, sdk::Ops& ops) const override;
  void backward(const sdk::LinearSite& site, const sdk::SiteAdapterTensors& tensors, const sdk::TensorRef& input,
                const sdk::TensorRef& d_output, const sdk::TensorRef& d_input, const sdk::AdapterPass& pass,
                sdk::Ops& ops) const override;
  // weight += scaling * B @ A (PEFT's get_delta_weight)
  void merge(const sdk::LinearSite& site, const sdk::SiteAdapterTensors& tensors, const sdk::TensorRef& weight,
             sdk::Ops& ops) const override;
  // base_model.model.<site>.lora_A.weight, as PEFT's get_peft_model_state_dict saves it
  std::string saved_tensor_name(const sdk::LinearSite& site, const sdk::AdapterTensor& tensor) const override;
  std::vector<std::string> modules_to_save() const override { return modules_to_save_; }
  // base_model.model.<parameter>, as PEFT saves a ModulesToSaveWrapper's copy (adapter name stripped)
  std::string saved_module_tensor_name(std::string_view parameter) const override;
  std::string adapter_config_json(std::string_view base_model_name_or_path) const override;

  // The factor on B(A(x)): lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA.
  double scaling() const;

 private:
  bool drops_out(const sdk::AdapterPass& pass) const { return pass.training && lora_dropout_ > 0.0; }
  bool wants_all_linear() const;
  bool saves_whole_module(const sdk::LinearSite& site) const;

  std::int64_t adapter_rank_;  // PEFT's "r"
  double lora_alpha_;
  double lora_dropout_;
  std::vector<std::string> target_modules_;
  bool use_rslora_;
  std::string init_lora_weights_;
  std::string bias_;
  std::vector<std::string> modules_to_save_;
  bool fan_in_fan_out_;
};

}  // namespace fthost::plugins
