#pragma once
// Checks a YAML section against an option schema: unknown keys (with the closest valid key),
// types, ranges, allowed values, aliases and required keys. Every problem is collected, so a user
// fixes a pipeline in one pass rather than one error per run.

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fthost/sdk/error.hpp"
#include "fthost/sdk/options.hpp"

namespace fthost::runtime {

// "pipeline.yaml:12:5" for a node read from a file; "command line" for one made by an override.
std::string describe_location(const YAML::Node& node, std::string_view file);

// "in [0, 1)", ">= 1", "> 0"; empty for an option without bounds.
std::string describe_range(const sdk::OptionSpec& spec);

struct SectionCheck {
  sdk::Options options;  // every schema key, from the YAML or its default
  sdk::Errors errors;
};

// `section` is the YAML mapping under `section_name` (may be undefined: all defaults apply, and
// required keys are reported). Keys listed in `reserved_keys` (e.g. "plugin") are skipped.
// Nested mappings are read as dotted names: {offload_optimizer: {device: cpu}} is
// "offload_optimizer.device".
SectionCheck check_section(const YAML::Node& section, const sdk::OptionSchema& schema, std::string_view section_name,
                           std::string_view file, const std::vector<std::string>& reserved_keys = {});

}  // namespace fthost::runtime
