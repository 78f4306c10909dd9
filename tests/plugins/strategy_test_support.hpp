#pragma once
// Builds what the host hands a strategy: validated options (schema defaults plus overrides) and
// pipeline facts with a Llama-shaped list of linear sites.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::testing {

// Every key of `schema` at its default, then `overrides`. An override the schema does not declare
// throws, so a misspelt key fails the test instead of silently testing the default.
inline sdk::Options options_from(const sdk::OptionSchema& schema,
                                 std::initializer_list<std::pair<std::string, sdk::OptionValue>> overrides = {}) {
  sdk::Options options;
  for (const sdk::OptionSpec& spec : schema.specs()) {
    if (spec.default_value) options.set(spec.name, *spec.default_value);
  }
  for (const auto& [name, value] : overrides) {
    if (schema.find(name) == nullptr) throw std::invalid_argument("test override '" + name + "' is not in the schema");
    options.set(name, value);
  }
  return options;
}

inline sdk::LinearSite linear_site(std::string name, std::int64_t in_features, std::int64_t out_features,
                                   sdk::SiteRole role = sdk::SiteRole::column, bool is_output_head = false) {
  sdk::LinearSite site;
  site.name = std::move(name);
  site.in_features = in_features;
  site.out_features = out_features;
  site.role = role;
  site.is_output_head = is_output_head;
  return site;
}

struct LlamaShape {
  std::int64_t layers = 32;
  std::int64_t hidden = 4096;
  std::int64_t key_value_hidden = 4096;  // num_key_value_heads * head_dim
  std::int64_t intermediate = 11008;
  std::int64_t vocab = 32000;
};

// The sites of a Llama decoder with Hugging Face names: 7 per layer, then lm_head.
// Defaults are Llama-2-7B's shapes.
inline std::vector<sdk::LinearSite> llama_sites(const LlamaShape& shape = {}) {
  std::vector<sdk::LinearSite> sites;
  for (std::int64_t layer = 0; layer < shape.layers; ++layer) {
    std::string prefix = "model.layers." + std::to_string(layer) + ".";
    sites.push_back(linear_site(prefix + "self_attn.q_proj", shape.hidden, shape.hidden));
    sites.push_back(linear_site(prefix + "self_attn.k_proj", shape.hidden, shape.key_value_hidden));
    sites.push_back(linear_site(prefix + "self_attn.v_proj", shape.hidden, shape.key_value_hidden));
    sites.push_back(linear_site(prefix + "self_attn.o_proj", shape.hidden, shape.hidden, sdk::SiteRole::row));
    sites.push_back(linear_site(prefix + "mlp.gate_proj", shape.hidden, shape.intermediate));
    sites.push_back(linear_site(prefix + "mlp.up_proj", shape.hidden, shape.intermediate));
    sites.push_back(linear_site(prefix + "mlp.down_proj", shape.intermediate, shape.hidden, sdk::SiteRole::row));
  }
  sites.push_back(linear_site("lm_head", shape.hidden, shape.vocab, sdk::SiteRole::column, true));
  return sites;
}

inline sdk::PipelineFacts facts_with_sites(std::vector<sdk::LinearSite> sites) {
  sdk::PipelineFacts facts;
  facts.sites = std::move(sites);
  return facts;
}

inline std::vector<const sdk::Error*> errors_of(const sdk::Errors& errors, sdk::ErrorCategory category) {
  std::vector<const sdk::Error*> found;
  for (const sdk::Error& error : errors) {
    if (error.category == category) found.push_back(&error);
  }
  return found;
}

// True when some error of `category` contains `text`.
inline bool has_error(const sdk::Errors& errors, sdk::ErrorCategory category, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(), [&](const sdk::Error& error) {
    return error.category == category && error.message.find(text) != std::string::npos;
  });
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// True when some line of a describe_plan() result contains `part`.
inline bool any_line_contains(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return contains(line, part); });
}

}  // namespace fthost::testing
