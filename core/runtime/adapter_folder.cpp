#include "fthost/runtime/adapter_folder.hpp"

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

#include "fthost/runtime/option_validation.hpp"
#include "fthost/sdk/plugin.hpp"

namespace fthost::runtime {
namespace {

using sdk::Error;

// PEFT fields that change what the adapter computes but have no fthost option: a file that
// uses them would load into the wrong shapes or the wrong function, so it is refused.
std::optional<std::string> unsupported_peft_feature(const YAML::Node& config) {
  auto set = [&](const char* key) {
    const YAML::Node value = config[key];
    if (!value || value.IsNull()) return false;
    if (value.IsMap() || value.IsSequence()) return value.size() > 0;
    return value.Scalar() != "false";
  };
  for (const char* key : {"use_dora", "rank_pattern", "alpha_pattern", "layers_to_transform", "use_qalora",
                          "trainable_token_indices", "target_parameters"}) {
    if (set(key)) return std::string(key);
  }
  return std::nullopt;
}

}  // namespace

sdk::Result<LoadedAdapterStrategy> load_adapter_strategy(const std::filesystem::path& folder,
                                                         const PluginRegistry& registry,
                                                         const sdk::PipelineFacts& facts) {
  const std::filesystem::path file = folder / "adapter_config.json";
  const std::string where = file.string();
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    return Error::invalid_input(where + ": no such file (--adapter expects a folder as PEFT's save_pretrained "
                                        "writes it: adapter_config.json + adapter_model.safetensors)");
  }
  YAML::Node config;
  try {
    config = YAML::LoadFile(file.string());  // JSON is YAML; yaml-cpp keeps line numbers for errors
  } catch (const YAML::Exception& failure) {
    return Error::invalid_input(where + ": not valid JSON (" + failure.msg + ")");
  }
  if (!config.IsMap()) return Error::invalid_input(where + ": expected a JSON object");
  const YAML::Node type = config["peft_type"];
  if (!type || !type.IsScalar()) return Error::invalid_input(where + ": missing \"peft_type\" (e.g. \"LORA\")");
  std::string plugin_name = type.Scalar();
  std::transform(plugin_name.begin(), plugin_name.end(), plugin_name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const LoadedPlugin* plugin = registry.find(plugin_name);
  if (plugin == nullptr || plugin->kind != sdk::StrategyKind::adapter) {
    return Error{sdk::ErrorCategory::plugin,
                 where + ": peft_type \"" + type.Scalar() + "\" needs an adapter plugin named '" + plugin_name +
                     "', and none is installed (fthost plugins list shows what is)"};
  }
  if (std::optional<std::string> feature = unsupported_peft_feature(config)) {
    return Error::not_implemented(where + ": \"" + *feature + "\" is set; plugin '" + plugin_name +
                                  "' does not implement it, so this adapter cannot be loaded faithfully");
  }

  // The keys the plugin knows; PEFT's bookkeeping (base_model_name_or_path, task_type, revision,
  // ...) and null values are left out, and a lone string stands for a one-element list as PEFT
  // allows for target_modules.
  const sdk::OptionSchema& schema = plugin->plugin->options();
  YAML::Node section(YAML::NodeType::Map);
  for (const auto& entry : config) {
    const std::string key = entry.first.Scalar();
    const sdk::OptionSpec* spec = schema.find(key);
    if (spec == nullptr || entry.second.IsNull()) continue;
    if (spec->type == sdk::OptionType::string_list && entry.second.IsScalar()) {
      YAML::Node list(YAML::NodeType::Sequence);
      list.push_back(entry.second.Scalar());
      section[key] = list;
    } else {
      section[key] = entry.second;
    }
  }
  SectionCheck checked = check_section(section, schema, "adapter", where);
  if (!checked.errors.empty()) return checked.errors.front();

  sdk::Result<LoadedStrategy> created =
      create_checked_strategy(*plugin, checked.options, facts, sdk::StrategyKind::adapter, where);
  if (!created) return created.error();
  LoadedAdapterStrategy loaded;
  static_cast<LoadedStrategy&>(loaded) = std::move(*created);
  return loaded;
}

}  // namespace fthost::runtime
