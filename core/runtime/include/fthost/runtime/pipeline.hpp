#pragma once
// Pipeline YAML -> validated specification. Nothing heavy happens here: files are parsed, every
// key is checked against the host's and the plugins' schemas, and paths are checked to exist.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fthost/runtime/plugin_registry.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/options.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

// One `key.path=value` (set) or `~key.path` (delete) from the command line, as Hydra and
// torchtune spell them.
struct Override {
  std::vector<std::string> path;
  bool remove = false;
  std::string value_text;  // parsed as YAML: 8, 1e-4, true, [q_proj, v_proj], cpu
  std::string original;
};

sdk::Result<Override> parse_override(const std::string& text);

struct StrategyChoice {
  sdk::StrategyKind kind = sdk::StrategyKind::precision;
  const LoadedPlugin* plugin = nullptr;
  sdk::Options options;
  std::string location;  // where the section starts, for later errors
};

struct PipelineSpec {
  std::filesystem::path file;
  sdk::Options model;
  sdk::Options data;
  sdk::Options training;
  sdk::Options output;
  std::vector<StrategyChoice> strategies;  // in the order of sdk::all_strategy_kinds

  // Paths in the YAML are relative to the pipeline file's folder; these are resolved.
  std::filesystem::path model_path;
  std::filesystem::path train_data_path;
  std::filesystem::path eval_data_path;  // empty when none
  std::filesystem::path output_dir;

  const StrategyChoice* strategy(sdk::StrategyKind kind) const;
};

struct PipelineLoad {
  PipelineSpec spec;
  sdk::Errors errors;  // empty when the pipeline is valid
};

PipelineLoad load_pipeline(const std::filesystem::path& file, const std::vector<Override>& overrides,
                           const PluginRegistry& registry);

}  // namespace fthost::runtime
