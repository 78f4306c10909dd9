#include "model/linear_sites.hpp"

namespace fthost::model {

std::vector<sdk::LinearSite> linear_sites(const ModelConfig& config) {
  std::vector<sdk::LinearSite> sites;
  const std::int64_t C = config.hidden_size;
  const std::int64_t F = config.intermediate_size;
  auto add = [&](std::string name, std::int64_t in, std::int64_t out, bool bias, sdk::SiteRole role) {
    sdk::LinearSite site;
    site.name = std::move(name);
    site.in_features = in;
    site.out_features = out;
    site.has_bias = bias;
    site.role = role;
    sites.push_back(std::move(site));
  };
  for (std::int64_t layer = 0; layer < config.num_layers; ++layer) {
    std::string prefix = (config.architecture == Architecture::llama ? "model.layers." : "transformer.h.") +
                         std::to_string(layer) + ".";
    if (config.architecture == Architecture::llama) {
      add(prefix + "self_attn.q_proj", C, config.q_size(), config.qkv_bias, sdk::SiteRole::column);
      add(prefix + "self_attn.k_proj", C, config.kv_size(), config.qkv_bias, sdk::SiteRole::column);
      add(prefix + "self_attn.v_proj", C, config.kv_size(), config.qkv_bias, sdk::SiteRole::column);
      add(prefix + "self_attn.o_proj", config.q_size(), C, config.o_bias, sdk::SiteRole::row);
      add(prefix + "mlp.gate_proj", C, F, config.mlp_bias, sdk::SiteRole::column);
      add(prefix + "mlp.up_proj", C, F, config.mlp_bias, sdk::SiteRole::column);
      add(prefix + "mlp.down_proj", F, C, config.mlp_bias, sdk::SiteRole::row);
    } else {
      add(prefix + "attn.c_attn", C, 3 * C, true, sdk::SiteRole::column);
      add(prefix + "attn.c_proj", C, C, true, sdk::SiteRole::row);
      add(prefix + "mlp.c_fc", C, F, true, sdk::SiteRole::column);
      add(prefix + "mlp.c_proj", F, C, true, sdk::SiteRole::row);
    }
  }
  add("lm_head", C, config.vocab_size, false, sdk::SiteRole::column);
  sites.back().is_output_head = true;
  return sites;
}

}  // namespace fthost::model
