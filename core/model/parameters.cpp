#include "model/parameters.hpp"

#include <stdexcept>

namespace fthost::model {

ParameterLayout::ParameterLayout(const ModelConfig& config) : ParameterLayout(config, {}) {}

ParameterLayout::ParameterLayout(const ModelConfig& config, const std::set<std::string, std::less<>>& omitted) {
  const std::int64_t C = config.hidden_size;
  const std::int64_t F = config.intermediate_size;
  const std::int64_t V = config.vocab_size;
  using R = ParameterRole;
  auto add = [&](std::string name, backend::Shape shape, ParameterRole role, bool stored_transposed = false) {
    if (omitted.count(name) == 0) this->add(std::move(name), std::move(shape), role, stored_transposed);
  };
  if (config.architecture == Architecture::llama) {
    add("model.embed_tokens.weight", {V, C}, R::embedding);
    for (std::int64_t layer = 0; layer < config.num_layers; ++layer) {
      std::string prefix = "model.layers." + std::to_string(layer) + ".";
      add(prefix + "input_layernorm.weight", {C}, R::norm_weight);
      add(prefix + "self_attn.q_proj.weight", {config.q_size(), C}, R::linear_weight);
      add(prefix + "self_attn.k_proj.weight", {config.kv_size(), C}, R::linear_weight);
      add(prefix + "self_attn.v_proj.weight", {config.kv_size(), C}, R::linear_weight);
      if (config.qkv_bias) {
        add(prefix + "self_attn.q_proj.bias", {config.q_size()}, R::linear_bias);
        add(prefix + "self_attn.k_proj.bias", {config.kv_size()}, R::linear_bias);
        add(prefix + "self_attn.v_proj.bias", {config.kv_size()}, R::linear_bias);
      }
      add(prefix + "self_attn.o_proj.weight", {C, config.q_size()}, R::linear_weight);
      if (config.o_bias) add(prefix + "self_attn.o_proj.bias", {C}, R::linear_bias);
      add(prefix + "post_attention_layernorm.weight", {C}, R::norm_weight);
      add(prefix + "mlp.gate_proj.weight", {F, C}, R::linear_weight);
      add(prefix + "mlp.up_proj.weight", {F, C}, R::linear_weight);
      add(prefix + "mlp.down_proj.weight", {C, F}, R::linear_weight);
      if (config.mlp_bias) {
        add(prefix + "mlp.gate_proj.bias", {F}, R::linear_bias);
        add(prefix + "mlp.up_proj.bias", {F}, R::linear_bias);
        add(prefix + "mlp.down_proj.bias", {C}, R::linear_bias);
      }
    }
    add("model.norm.weight", {C}, R::norm_weight);
    if (!config.tie_word_embeddings) add("lm_head.weight", {V, C}, R::linear_weight);
    return;
  }
  add("transformer.wte.weight", {V, C}, R::embedding);
  add("transformer.wpe.weight", {config.max_position_embeddings, C}, R::position_embedding);
  for (std::int64_t layer = 0; layer < config.num_layers; ++layer) {
    std::string prefix = "transformer.h." + std::to_string(layer) + ".";
    add(prefix + "ln_1.weight", {C}, R::norm_weight);
    add(prefix + "ln_1.bias", {C}, R::norm_bias);
    add(prefix + "attn.c_attn.weight", {3 * C, C}, R::linear_weight, true);
    add(prefix + "attn.c_attn.bias", {3 * C}, R::linear_bias);
    add(prefix + "attn.c_proj.weight", {C, C}, R::linear_weight, true);
    add(prefix + "attn.c_proj.bias", {C}, R::linear_bias);
    add(prefix + "ln_2.weight", {C}, R::norm_weight);
    add(prefix + "ln_2.bias", {C}, R::norm_bias);
    add(prefix + "mlp.c_fc.weight", {F, C}, R::linear_weight, true);
    add(prefix + "mlp.c_fc.bias", {F}, R::linear_bias);
    add(prefix + "mlp.c_proj.weight", {C, F}, R::linear_weight, true);
    add(prefix + "mlp.c_proj.bias", {C}, R::linear_bias);
  }
  add("transformer.ln_f.weight", {C}, R::norm_weight);
  add("transformer.ln_f.bias", {C}, R::norm_bias);
}

void ParameterLayout::add(std::string name, backend::Shape shape, ParameterRole role, bool stored_transposed) {
  ParameterSpec spec;
  spec.name = std::move(name);
  spec.shape = std::move(shape);
  spec.role = role;
  spec.offset = total_elements_;
  spec.stored_transposed = stored_transposed;
  // Each parameter starts on a 16-element (64-byte) boundary so vector kernels see aligned rows.
  parameter_count_ += backend::shape_elements(spec.shape);
  total_elements_ += (backend::shape_elements(spec.shape) + 15) / 16 * 16;
  index_by_name_[spec.name] = specs_.size();
  specs_.push_back(std::move(spec));
}

const ParameterSpec* ParameterLayout::find(std::string_view name) const {
  auto found = index_by_name_.find(name);
  return found == index_by_name_.end() ? nullptr : &specs_[found->second];
}

ParameterSet::ParameterSet(const ParameterLayout& layout, backend::Backend& backend)
    : layout_(&layout), buffer_(backend.zeros(backend::DType::f32, {layout.total_elements()})) {}

backend::Tensor ParameterSet::get(std::string_view name) const {
  const ParameterSpec* spec = layout_->find(name);
  if (spec == nullptr) throw std::logic_error("no parameter named '" + std::string(name) + "'");
  return get(*spec);
}

backend::Tensor ParameterSet::get(const ParameterSpec& spec) const {
  return buffer_.rows(spec.offset, backend::shape_elements(spec.shape)).reshape(spec.shape);
}

}  // namespace fthost::model
