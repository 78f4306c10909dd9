#pragma once
// Choosing linear sites by module name, the way PEFT's target_modules and bitsandbytes'
// llm_int8_skip_modules lists are written.

#include <algorithm>
#include <string>
#include <vector>

#include "fthost/sdk/types.hpp"

namespace fthost::plugins {

// True when an entry of `module_names` is the site's full name or a "."-separated suffix of it
// ("q_proj" and "self_attn.q_proj" both select "model.layers.0.self_attn.q_proj"; "q_proj" does
// not select "...q_proj_extra").
inline bool site_matches_any(const sdk::LinearSite& site, const std::vector<std::string>& module_names) {
  return std::any_of(module_names.begin(), module_names.end(),
                     [&](const std::string& module_name) { return sdk::site_name_matches(site.name, module_name); });
}

// Quantization plugins' choice of sites: those `targets` selects (an entry "all-linear" selects
// every linear) and `skips` does not.
inline bool quantization_selects(const sdk::LinearSite& site, const std::vector<std::string>& targets,
                                 const std::vector<std::string>& skips) {
  const bool targeted = std::any_of(targets.begin(), targets.end(), [&](const std::string& target) {
    return target == "all-linear" || sdk::site_name_matches(site.name, target);
  });
  return targeted && !site_matches_any(site, skips);
}

// One error per target_modules or skip_modules entry that names no linear site of the model
// ("lm_head" is allowed in skip_modules, the default, whether or not the model has its own head).
inline std::vector<std::string> unmatched_quantization_modules(const std::vector<sdk::LinearSite>& sites,
                                                               const std::vector<std::string>& targets,
                                                               const std::vector<std::string>& skips) {
  std::vector<std::string> problems;
  if (sites.empty()) return problems;
  auto matches = [&](const std::string& module) {
    return std::any_of(sites.begin(), sites.end(),
                       [&](const sdk::LinearSite& site) { return sdk::site_name_matches(site.name, module); });
  };
  for (const std::string& target : targets) {
    if (target != "all-linear" && !matches(target)) {
      problems.push_back("target_modules entry '" + target + "' matches no linear site of this model");
    }
  }
  for (const std::string& skip : skips) {
    if (skip != "lm_head" && !matches(skip)) {
      problems.push_back("skip_modules entry '" + skip + "' matches no linear site of this model");
    }
  }
  return problems;
}

}  // namespace fthost::plugins
