#include "fthost/runtime/pipeline.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include "fthost/runtime/host_schema.hpp"
#include "fthost/runtime/option_validation.hpp"
#include "fthost/runtime/suggest.hpp"

namespace fthost::runtime {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

constexpr std::string_view plugin_key = "plugin";

std::vector<std::string> split_dotted(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    parts.emplace_back(text.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

// A copy of a parsed value with no file positions: errors about a value that came from the
// command line then say "command line" instead of pointing at line 1 of the pipeline file.
YAML::Node without_positions(const YAML::Node& parsed) {
  if (parsed.IsScalar()) return YAML::Node(parsed.Scalar());
  if (parsed.IsSequence()) {
    YAML::Node copy(YAML::NodeType::Sequence);
    for (const YAML::Node& item : parsed) copy.push_back(without_positions(item));
    return copy;
  }
  if (parsed.IsMap()) {
    YAML::Node copy(YAML::NodeType::Map);
    for (const auto& entry : parsed) {
      copy[entry.first.Scalar()] = without_positions(entry.second);
    }
    return copy;
  }
  return YAML::Node(YAML::NodeType::Null);
}

// Applies one override to the document. yaml-cpp nodes are handles, so walking by value still
// edits the tree in place.
sdk::Errors apply_override(YAML::Node root, const Override& change) {
  YAML::Node node = root;
  for (std::size_t i = 0; i + 1 < change.path.size(); ++i) {
    const std::string& part = change.path[i];
    YAML::Node child = node[part];
    if (!child.IsDefined() || child.IsNull()) {
      if (change.remove) return {};  // deleting below something absent: nothing to do
      node[part] = YAML::Node(YAML::NodeType::Map);
      child.reset(node[part]);  // operator= would copy into the node, reset() rebinds the handle
    } else if (!child.IsMap()) {
      return {Error::invalid_input("command line: override '" + change.original + "': '" + part +
                                   "' is not a section, so it has no key '" + change.path[i + 1] + "'")};
    }
    node.reset(child);
  }
  const std::string& leaf = change.path.back();
  if (change.remove) {
    node.remove(leaf);
    return {};
  }
  try {
    node[leaf] = without_positions(YAML::Load(change.value_text));
  } catch (const YAML::Exception& failure) {
    return {Error::invalid_input("command line: override '" + change.original + "': value is not valid YAML (" +
                                 failure.msg + ")")};
  }
  return {};
}

fs::path resolve_relative(const fs::path& pipeline_file, const std::string& written) {
  fs::path path(written);
  if (path.is_absolute()) return path;
  return (pipeline_file.parent_path() / path).lexically_normal();
}

void require_existing_path(const YAML::Node& section, const std::string& key, const fs::path& resolved,
                           const fs::path& file, sdk::Errors& errors, bool must_be_directory) {
  std::error_code error;
  bool exists = must_be_directory ? fs::is_directory(resolved, error) : fs::is_regular_file(resolved, error);
  if (exists) return;
  YAML::Node value = section[key];
  std::string what = must_be_directory ? "a folder" : "a file";
  errors.push_back(Error::invalid_input(describe_location(value.IsDefined() ? value : section, file.string()) + ": " +
                                        "'" + resolved.string() + "' (" + key + ") is not " + what));
}

void check_strategy_section(const YAML::Node& section, sdk::StrategyKind kind, const fs::path& file,
                            const PluginRegistry& registry, PipelineLoad& load) {
  std::string section_name(sdk::to_string(kind));
  std::string where = describe_location(section, file.string());
  if (section.IsNull()) return;  // `adapter:` left empty: no strategy of this kind
  if (!section.IsMap()) {
    load.errors.push_back(Error::invalid_input(where + ": section '" + section_name +
                                               "' must be a mapping with at least 'plugin: NAME'"));
    return;
  }
  YAML::Node name_node = section[std::string(plugin_key)];
  if (!name_node.IsDefined() || !name_node.IsScalar() || name_node.Scalar().empty()) {
    load.errors.push_back(Error::invalid_input(where + ": section '" + section_name +
                                               "' needs 'plugin: NAME' (see `fthost plugins list`)"));
    return;
  }
  const std::string& plugin_name = name_node.Scalar();
  std::string plugin_where = describe_location(name_node, file.string());
  const LoadedPlugin* plugin = registry.find(plugin_name);
  if (plugin == nullptr) {
    Error missing = registry.missing_plugin_error(plugin_name, kind);
    load.errors.push_back({missing.category, plugin_where + ": " + missing.message});
    return;
  }
  if (plugin->kind != kind) {
    std::string actual_kind(sdk::to_string(plugin->kind));
    std::string article = actual_kind.front() == 'a' ? "an " : "a ";
    load.errors.push_back(Error::invalid_input(plugin_where + ": plugin '" + plugin_name + "' is " + article +
                                               actual_kind + " plugin; it belongs under '" +
                                               std::string(sdk::to_string(plugin->kind)) + ":', not '" +
                                               section_name + ":'"));
    return;
  }
  SectionCheck checked = check_section(section, plugin->plugin->options(), section_name, file.string(),
                                       {std::string(plugin_key)});
  load.errors.insert(load.errors.end(), checked.errors.begin(), checked.errors.end());
  load.spec.strategies.push_back({kind, plugin, std::move(checked.options), where});
}

}  // namespace

sdk::Result<Override> parse_override(const std::string& text) {
  Override change;
  change.original = text;
  std::string_view key;
  if (text.starts_with("~")) {
    change.remove = true;
    key = std::string_view(text).substr(1);
  } else {
    std::size_t equals = text.find('=');
    if (equals == std::string::npos) {
      return Error::invalid_input("command line: '" + text + "' is not an override: write key.path=value or ~key.path");
    }
    key = std::string_view(text).substr(0, equals);
    change.value_text = text.substr(equals + 1);
  }
  change.path = split_dotted(key);
  for (const std::string& part : change.path) {
    if (part.empty()) return Error::invalid_input("command line: override '" + text + "' has an empty key part");
  }
  return change;
}

const StrategyChoice* PipelineSpec::strategy(sdk::StrategyKind kind) const {
  for (const StrategyChoice& choice : strategies) {
    if (choice.kind == kind) return &choice;
  }
  return nullptr;
}

PipelineLoad load_pipeline(const fs::path& file, const std::vector<Override>& overrides,
                           const PluginRegistry& registry) {
  PipelineLoad load;
  load.spec.file = file;
  std::error_code fs_error;
  if (!fs::is_regular_file(file, fs_error)) {
    load.errors.push_back(Error::invalid_input("cannot read pipeline '" + file.string() + "': no such file"));
    return load;
  }
  std::ifstream stream(file);
  std::stringstream text;
  text << stream.rdbuf();
  if (!stream) {
    load.errors.push_back(Error::invalid_input("cannot read pipeline '" + file.string() + "'"));
    return load;
  }

  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& failure) {
    load.errors.push_back(Error::invalid_input(file.string() + ":" + std::to_string(failure.mark.line + 1) + ":" +
                                               std::to_string(failure.mark.column + 1) + ": invalid YAML: " +
                                               failure.msg));
    return load;
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    load.errors.push_back(Error::invalid_input(file.string() + ": a pipeline is a mapping of sections (model:, data:, "
                                               "training:, output:, and strategy sections)"));
    return load;
  }
  for (const Override& change : overrides) {
    sdk::Errors problems = apply_override(root, change);
    load.errors.insert(load.errors.end(), problems.begin(), problems.end());
  }

  const YAML::Node& document = root;  // const: lookups below must not insert keys
  std::vector<std::string> section_names;
  for (const HostSection& section : host_sections()) section_names.emplace_back(section.name);
  for (sdk::StrategyKind kind : sdk::all_strategy_kinds) section_names.emplace_back(sdk::to_string(kind));
  for (const auto& entry : document) {
    std::string key = entry.first.Scalar();
    if (std::find(section_names.begin(), section_names.end(), key) != section_names.end()) continue;
    std::string message = describe_location(entry.first, file.string()) + ": unknown section '" + key + "'";
    if (std::optional<std::string> near = closest_match(key, section_names)) {
      message += " (did you mean '" + *near + "'?)";
    } else {
      message += " (sections: " + join(section_names) + ")";
    }
    load.errors.push_back(Error::invalid_input(message));
  }

  sdk::Options* destinations[] = {&load.spec.model, &load.spec.data, &load.spec.training, &load.spec.output};
  std::size_t index = 0;
  for (const HostSection& section : host_sections()) {
    // An absent section still gets its defaults; a missing required key is reported by file.
    YAML::Node found = document[std::string(section.name)];
    YAML::Node node = found.IsDefined() ? found : YAML::Node();
    SectionCheck checked = check_section(node, section.schema, section.name, file.string());
    load.errors.insert(load.errors.end(), checked.errors.begin(), checked.errors.end());
    *destinations[index++] = std::move(checked.options);
  }

  PipelineSpec& spec = load.spec;
  if (spec.model.has("path") && !spec.model.get_string("path").empty()) {
    spec.model_path = resolve_relative(file, spec.model.get_string("path"));
    require_existing_path(document["model"], "path", spec.model_path, file, load.errors, /*must_be_directory=*/true);
  }
  if (spec.data.has("train") && !spec.data.get_string("train").empty()) {
    spec.train_data_path = resolve_relative(file, spec.data.get_string("train"));
    require_existing_path(document["data"], "train", spec.train_data_path, file, load.errors, false);
  }
  if (spec.data.has("eval") && !spec.data.get_string("eval").empty()) {
    spec.eval_data_path = resolve_relative(file, spec.data.get_string("eval"));
    require_existing_path(document["data"], "eval", spec.eval_data_path, file, load.errors, false);
  }
  if (!spec.eval_data_path.empty() && spec.data.has("eval_split") && spec.data.get_float("eval_split") > 0.0) {
    load.errors.push_back(sdk::Error::invalid_input(describe_location(document["data"]["eval_split"], file.string()) +
                                                    ": data.eval_split holds out training documents for "
                                                    "evaluation, but data.eval already names an eval file: "
                                                    "give one of them"));
  }
  if (spec.output.has("dir") && !spec.output.get_string("dir").empty()) {
    spec.output_dir = resolve_relative(file, spec.output.get_string("dir"));
  }

  for (sdk::StrategyKind kind : sdk::all_strategy_kinds) {
    YAML::Node section = document[std::string(sdk::to_string(kind))];
    if (section.IsDefined()) check_strategy_section(section, kind, file, registry, load);
  }
  return load;
}

}  // namespace fthost::runtime
