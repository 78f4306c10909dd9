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

}  // namespace fthost::plugins
