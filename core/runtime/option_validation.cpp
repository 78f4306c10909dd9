#include "fthost/runtime/option_validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "fthost/runtime/suggest.hpp"

namespace fthost::runtime {
namespace {

using sdk::Error;
using sdk::OptionSpec;
using sdk::OptionType;
using sdk::OptionValue;

std::string quoted_text(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

std::string expected_type_phrase(const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::boolean: return "true or false";
    case OptionType::integer: return "an integer";
    case OptionType::number: return "a number";
    case OptionType::string: return "a string";
    case OptionType::enumeration: return "one of " + join(spec.allowed);
    case OptionType::string_list: return "a list of strings";
  }
  return "?";
}

std::optional<double> read_number(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  double value = 0;
  if (!YAML::convert<double>::decode(node, value) || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Converts a node to the spec's type; nullopt when the YAML value has the wrong type.
std::optional<OptionValue> convert(const YAML::Node& node, const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::boolean: {
      bool value = false;
      if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) return std::nullopt;
      return OptionValue{value};
    }
    case OptionType::integer: {
      // DeepSpeed users write sizes as 5e8: accept a float literal that is a whole number.
      std::optional<double> number = read_number(node);
      if (!number || std::trunc(*number) != *number || std::fabs(*number) > 9.0e18) return std::nullopt;
      return OptionValue{static_cast<std::int64_t>(*number)};
    }
    case OptionType::number: {
      std::optional<double> number = read_number(node);
      if (!number) return std::nullopt;
      return OptionValue{*number};
    }
    case OptionType::string:
    case OptionType::enumeration:
      if (!node.IsScalar()) return std::nullopt;
      return OptionValue{node.Scalar()};
    case OptionType::string_list: {
      // PEFT accepts target_modules: "all-linear" as well as a list: a scalar is a list of one.
      if (node.IsScalar()) return OptionValue{std::vector<std::string>{node.Scalar()}};
      if (!node.IsSequence()) return std::nullopt;
      std::vector<std::string> items;
      for (const YAML::Node& item : node) {
        if (!item.IsScalar()) return std::nullopt;
        items.push_back(item.Scalar());
      }
      return OptionValue{std::move(items)};
    }
  }
  return std::nullopt;
}

bool in_range(double value, const OptionSpec& spec) {
  if (spec.minimum && (spec.minimum_exclusive ? value <= *spec.minimum : value < *spec.minimum)) return false;
  if (spec.maximum && (spec.maximum_exclusive ? value >= *spec.maximum : value > *spec.maximum)) return false;
  return true;
}

// Range and allowed-value checks; the message, or nullopt when the value is acceptable.
std::optional<std::string> check_constraints(const OptionValue& value, const OptionSpec& spec) {
  if (spec.type == OptionType::enumeration) {
    const std::string& text = std::get<std::string>(value);
    for (const std::string& allowed : spec.allowed) {
      if (allowed == text) return std::nullopt;
    }
    std::string message = "must be one of " + join(spec.allowed) + ", got '" + text + "'";
    if (std::optional<std::string> near = closest_match(text, spec.allowed)) message += " (did you mean '" + *near + "'?)";
    return message;
  }
  if (!spec.minimum && !spec.maximum) return std::nullopt;
  double number = spec.type == OptionType::integer ? static_cast<double>(std::get<std::int64_t>(value))
                                                   : std::get<double>(value);
  if (in_range(number, spec)) return std::nullopt;
  return "= " + sdk::format_option_value(value) + " is out of range: must be " + describe_range(spec);
}

struct Walker {
  const sdk::OptionSchema& schema;
  std::string_view section_name;
  std::string_view file;
  const std::vector<std::string>& reserved_keys;
  SectionCheck& result;
  std::map<std::string, std::string> given_as;  // canonical name -> the spelling the user used
  std::vector<std::string> valid_names;

  std::string qualified(const std::string& key) const { return std::string(section_name) + "." + key; }

  bool is_prefix_of_some_option(const std::string& prefix) const {
    for (const OptionSpec& spec : schema.specs()) {
      if (spec.name.starts_with(prefix + ".")) return true;
    }
    return false;
  }

  void walk(const YAML::Node& mapping, const std::string& prefix) {
    // yaml-cpp's iterators yield a temporary key/value pair: copy the node handles out of it
    // (binding references to `entry->first` left them dangling).
    for (const auto& entry : mapping) {
      const YAML::Node key_node = entry.first;
      const YAML::Node value_node = entry.second;
      std::string key = prefix.empty() ? key_node.Scalar() : prefix + "." + key_node.Scalar();
      if (prefix.empty() &&
          std::find(reserved_keys.begin(), reserved_keys.end(), key) != reserved_keys.end()) {
        continue;
      }
      const OptionSpec* spec = schema.find_by_name_or_alias(key);
      if (spec == nullptr) {
        if (value_node.IsMap() && is_prefix_of_some_option(key)) {
          walk(value_node, key);
          continue;
        }
        report_unknown(key_node, key);
        continue;
      }
      if (auto previous = given_as.find(spec->name); previous != given_as.end()) {
        error(key_node, "'" + previous->second + "' and '" + key + "' in " + std::string(section_name) +
                            " are the same option; give only one");
        continue;
      }
      given_as[spec->name] = key;
      accept(*spec, key, value_node);
    }
  }

  void accept(const OptionSpec& spec, const std::string& written_key, const YAML::Node& value_node) {
    std::optional<OptionValue> value = convert(value_node, spec);
    if (!value) {
      error(value_node, qualified(written_key) + " must be " + expected_type_phrase(spec) + ", got " +
                            quoted_text(value_node));
      return;
    }
    if (std::optional<std::string> problem = check_constraints(*value, spec)) {
      error(value_node, qualified(written_key) + " " + *problem);
      return;
    }
    result.options.set(spec.name, std::move(*value));
  }

  void report_unknown(const YAML::Node& key_node, const std::string& key) {
    std::string message = "unknown key '" + key + "' in " + std::string(section_name);
    if (std::optional<std::string> near = closest_match(key, valid_names)) {
      message += " (did you mean '" + *near + "'?)";
    } else if (valid_names.empty()) {
      message += " (this section takes no options)";
    } else {
      message += " (valid keys: " + join(valid_names) + ")";
    }
    error(key_node, message);
  }

  void error(const YAML::Node& node, const std::string& message) {
    result.errors.push_back(Error::invalid_input(describe_location(node, file) + ": " + message));
  }
};

}  // namespace

std::string describe_range(const sdk::OptionSpec& spec) {
  auto bound = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);  // 1 not 1.0, 5e+08 not 500000000.000000
    return std::string(text);
  };
  if (spec.minimum && spec.maximum) {
    return std::string("in ") + (spec.minimum_exclusive ? "(" : "[") + bound(*spec.minimum) + ", " +
           bound(*spec.maximum) + (spec.maximum_exclusive ? ")" : "]");
  }
  if (spec.minimum) return (spec.minimum_exclusive ? "> " : ">= ") + bound(*spec.minimum);
  if (spec.maximum) return (spec.maximum_exclusive ? "< " : "<= ") + bound(*spec.maximum);
  return "";
}

std::string describe_location(const YAML::Node& node, std::string_view file) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return "command line";
  return std::string(file) + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

SectionCheck check_section(const YAML::Node& section, const sdk::OptionSchema& schema, std::string_view section_name,
                           std::string_view file, const std::vector<std::string>& reserved_keys) {
  SectionCheck result;
  Walker walker{schema, section_name, file, reserved_keys, result, {}, {}};
  for (const OptionSpec& spec : schema.specs()) walker.valid_names.push_back(spec.name);
  for (const std::string& reserved : reserved_keys) walker.valid_names.push_back(reserved);

  if (section.IsDefined() && !section.IsNull()) {
    if (!section.IsMap()) {
      result.errors.push_back(Error::invalid_input(describe_location(section, file) + ": section '" +
                                                   std::string(section_name) + "' must be a mapping of keys to values"));
      return result;
    }
    walker.walk(section, "");
  }

  for (const OptionSpec& spec : schema.specs()) {
    if (result.options.has(spec.name) || walker.given_as.count(spec.name) > 0) continue;
    if (spec.default_value) {
      result.options.set(spec.name, *spec.default_value);
    } else {
      std::string where = section.IsDefined() && !section.IsNull() ? describe_location(section, file) : std::string(file);
      result.errors.push_back(Error::invalid_input(where + ": missing required key '" + spec.name + "' in " +
                                                   std::string(section_name) + " (" + spec.doc + ")"));
    }
  }
  return result;
}

}  // namespace fthost::runtime
