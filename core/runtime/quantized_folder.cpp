#include "fthost/runtime/quantized_folder.hpp"

#include <optional>

#include <yaml-cpp/yaml.h>

#include "fthost/runtime/option_validation.hpp"
#include "fthost/sdk/plugin.hpp"

namespace fthost::runtime {
namespace {

using sdk::Error;

bool is_true(const YAML::Node& node) { return node && node.IsScalar() && node.Scalar() == "true"; }

struct ReadConfig {
  std::optional<YAML::Node> quantization;  // none when the folder is dense
  std::string where;
};

sdk::Result<ReadConfig> read_quantization_config(const std::filesystem::path& folder) {
  ReadConfig read;
  read.where = (folder / "config.json").string();
  YAML::Node config;
  try {
    config = YAML::LoadFile(read.where);  // JSON is YAML
  } catch (const YAML::Exception&) {
    return read;  // unreadable: the model loader says why, in its words
  }
  const YAML::Node& document = config;
  if (document.IsMap() && document["quantization_config"] && !document["quantization_config"].IsNull()) {
    read.quantization = document["quantization_config"];
    if (!read.quantization->IsMap()) {
      return Error::invalid_input(read.where + ": \"quantization_config\" must be a JSON object");
    }
  }
  return read;
}

sdk::Result<FolderQuantization> describe(const YAML::Node& quantization, const std::string& where) {
  FolderQuantization found;
  if (quantization["fthost_plugin"] && quantization["fthost_plugin"].IsScalar()) {
    found.plugin = quantization["fthost_plugin"].Scalar();
  }
  const std::string method = quantization["quant_method"] && quantization["quant_method"].IsScalar()
                                 ? quantization["quant_method"].Scalar()
                                 : std::string();
  if (method == "bitsandbytes") {
    if (is_true(quantization["load_in_4bit"])) {
      if (found.plugin.empty()) found.plugin = "quant_nf4";
      const std::string type = quantization["bnb_4bit_quant_type"] ? quantization["bnb_4bit_quant_type"].Scalar() : "fp4";
      found.description = "bitsandbytes 4-bit " + type +
                          (is_true(quantization["bnb_4bit_use_double_quant"]) ? ", double-quantized" : "");
    } else if (is_true(quantization["load_in_8bit"])) {
      if (found.plugin.empty()) found.plugin = "quant_int8";
      found.description = "bitsandbytes LLM.int8()";
    }
  }
  if (found.plugin.empty()) {
    return Error::not_implemented(where + ": quantization_config has quant_method \"" + method +
                                  "\"; fthost reads bitsandbytes 4-bit (load_in_4bit) and 8-bit (load_in_8bit) folders");
  }
  if (found.description.empty()) found.description = "quantized by plugin " + found.plugin;
  return found;
}

}  // namespace

sdk::Result<std::optional<FolderQuantization>> folder_quantization(const std::filesystem::path& folder) {
  sdk::Result<ReadConfig> read = read_quantization_config(folder);
  if (!read) return read.error();
  if (!read->quantization) return std::optional<FolderQuantization>();
  sdk::Result<FolderQuantization> found = describe(*read->quantization, read->where);
  if (!found) return found.error();
  return std::optional<FolderQuantization>(*found);
}

sdk::Result<std::optional<LoadedQuantizationStrategy>> load_folder_quantization(const std::filesystem::path& folder,
                                                                                const PluginRegistry& registry,
                                                                                const sdk::PipelineFacts& facts) {
  sdk::Result<ReadConfig> read = read_quantization_config(folder);
  if (!read) return read.error();
  if (!read->quantization) return std::optional<LoadedQuantizationStrategy>();
  sdk::Result<FolderQuantization> found = describe(*read->quantization, read->where);
  if (!found) return found.error();
  const std::string& where = read->where;
  const LoadedPlugin* plugin = registry.find(found->plugin);
  if (plugin == nullptr || plugin->kind != sdk::StrategyKind::quantization) {
    return Error{sdk::ErrorCategory::plugin, where + ": the weights are " + found->description +
                                                 ", which needs the quantization plugin '" + found->plugin +
                                                 "', and none is installed (fthost plugins list shows what is)"};
  }
  // The keys the plugin knows; transformers' dtype words become the plugin's.
  const sdk::OptionSchema& schema = plugin->plugin->options();
  YAML::Node section(YAML::NodeType::Map);
  for (const auto& entry : *read->quantization) {
    const std::string key = entry.first.Scalar();
    if (schema.find_by_name_or_alias(key) == nullptr || entry.second.IsNull()) continue;
    if (key == "bnb_4bit_compute_dtype" && entry.second.IsScalar()) {
      const std::string& dtype = entry.second.Scalar();
      section[key] = dtype == "float32" ? "fp32" : dtype == "bfloat16" ? "bf16" : dtype == "float16" ? "fp16" : dtype;
      continue;
    }
    section[key] = entry.second;
  }
  SectionCheck checked = check_section(section, schema, "quantization_config", where);
  if (!checked.errors.empty()) return checked.errors.front();

  sdk::Result<LoadedStrategy> created =
      create_checked_strategy(*plugin, checked.options, facts, sdk::StrategyKind::quantization, where);
  if (!created) return created.error();
  LoadedQuantizationStrategy loaded;
  static_cast<LoadedStrategy&>(loaded) = std::move(*created);
  return std::optional<LoadedQuantizationStrategy>(std::move(loaded));
}

}  // namespace fthost::runtime
