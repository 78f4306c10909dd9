#pragma once
// Option schemas: how a plugin (and the host, for its own YAML sections) declares every key it
// accepts, so that `fthost plugins describe` can print it and the host can validate a pipeline
// before anything heavy happens. Values reach the plugin already checked and with defaults filled in.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fthost::sdk {

enum class OptionType { boolean, integer, number, string, enumeration, string_list };

inline std::string_view to_string(OptionType type) {
  switch (type) {
    case OptionType::boolean: return "bool";
    case OptionType::integer: return "int";
    case OptionType::number: return "float";
    case OptionType::string: return "string";
    case OptionType::enumeration: return "enum";
    case OptionType::string_list: return "list<string>";
  }
  return "?";
}

using OptionValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

// Renders a value the way a user would write it in YAML.
inline std::string format_option_value(const OptionValue& value) {
  struct Formatter {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      std::string text = std::to_string(v);
      // std::to_string prints 6 decimals; trim them so 0.050000 reads as 0.05 and 1e-08 stays visible.
      if (v != 0.0 && (v < 1e-3 && v > -1e-3)) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%g", v);
        return buffer;
      }
      while (!text.empty() && text.back() == '0') text.pop_back();
      if (!text.empty() && text.back() == '.') text += '0';
      return text;
    }
    std::string operator()(const std::string& v) const { return v.empty() ? "''" : v; }
    std::string operator()(const std::vector<std::string>& v) const {
      std::string text = "[";
      for (std::size_t i = 0; i < v.size(); ++i) text += (i ? ", " : "") + v[i];
      return text + "]";
    }
  };
  return std::visit(Formatter{}, value);
}

struct OptionSpec {
  std::string name;  // dotted for nested keys: "offload_optimizer.device"
  OptionType type = OptionType::string;
  std::optional<OptionValue> default_value;  // empty: the key is required
  std::string doc;                           // one line
  std::optional<double> minimum;             // integer / number
  std::optional<double> maximum;
  bool minimum_exclusive = false;
  bool maximum_exclusive = false;
  std::vector<std::string> allowed;  // enumeration: the accepted spellings
  std::vector<std::string> aliases;  // other names users know the key by (bitsandbytes' bnb_4bit_*)

  bool required() const { return !default_value.has_value(); }

  // Builders, so a schema reads as a table in the plugin's source.
  OptionSpec& range(double low, double high) { minimum = low; maximum = high; return *this; }
  OptionSpec& at_least(double low) { minimum = low; return *this; }
  OptionSpec& greater_than(double low) { minimum = low; minimum_exclusive = true; return *this; }
  OptionSpec& below(double high) { maximum = high; maximum_exclusive = true; return *this; }
  OptionSpec& alias(std::string other) { aliases.push_back(std::move(other)); return *this; }
  OptionSpec& make_required() { default_value.reset(); return *this; }
};

class OptionSchema {
 public:
  OptionSpec& add_bool(std::string name, bool fallback, std::string doc) {
    return add(std::move(name), OptionType::boolean, OptionValue{fallback}, std::move(doc));
  }
  OptionSpec& add_int(std::string name, std::int64_t fallback, std::string doc) {
    return add(std::move(name), OptionType::integer, OptionValue{fallback}, std::move(doc));
  }
  OptionSpec& add_float(std::string name, double fallback, std::string doc) {
    return add(std::move(name), OptionType::number, OptionValue{fallback}, std::move(doc));
  }
  OptionSpec& add_string(std::string name, std::string fallback, std::string doc) {
    return add(std::move(name), OptionType::string, OptionValue{std::move(fallback)}, std::move(doc));
  }
  OptionSpec& add_enum(std::string name, std::string fallback, std::vector<std::string> allowed, std::string doc) {
    OptionSpec& spec = add(std::move(name), OptionType::enumeration, OptionValue{std::move(fallback)}, std::move(doc));
    spec.allowed = std::move(allowed);
    return spec;
  }
  OptionSpec& add_string_list(std::string name, std::vector<std::string> fallback, std::string doc) {
    return add(std::move(name), OptionType::string_list, OptionValue{std::move(fallback)}, std::move(doc));
  }

  const std::vector<OptionSpec>& specs() const { return specs_; }

  const OptionSpec* find(std::string_view name) const {
    for (const OptionSpec& spec : specs_) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  }
  // The spec that `name` refers to, by its own name or one of its aliases.
  const OptionSpec* find_by_name_or_alias(std::string_view name) const {
    for (const OptionSpec& spec : specs_) {
      if (spec.name == name) return &spec;
      for (const std::string& alias : spec.aliases) {
        if (alias == name) return &spec;
      }
    }
    return nullptr;
  }

 private:
  OptionSpec& add(std::string name, OptionType type, OptionValue fallback, std::string doc) {
    OptionSpec& spec = specs_.emplace_back();
    spec.name = std::move(name);
    spec.type = type;
    spec.default_value = std::move(fallback);
    spec.doc = std::move(doc);
    return spec;
  }
  std::vector<OptionSpec> specs_;
};

// Validated option values, keyed by canonical option name. Every key of the schema is present.
// Typed access throws std::logic_error on a name or type the schema did not declare: that is a
// bug in the plugin, which the SDK's export wrapper turns into an internal error.
class Options {
 public:
  void set(std::string name, OptionValue value) { values_[std::move(name)] = std::move(value); }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  using ValueMap = std::map<std::string, OptionValue, std::less<>>;
  const ValueMap& values() const { return values_; }

  bool get_bool(std::string_view name) const { return get<bool>(name); }
  std::int64_t get_int(std::string_view name) const { return get<std::int64_t>(name); }
  double get_float(std::string_view name) const { return get<double>(name); }
  const std::string& get_string(std::string_view name) const { return get<std::string>(name); }
  const std::vector<std::string>& get_string_list(std::string_view name) const {
    return get<std::vector<std::string>>(name);
  }

  template <typename T>
  const T& get(std::string_view name) const {
    auto found = values_.find(name);
    if (found == values_.end()) throw std::logic_error("option '" + std::string(name) + "' is not in the schema");
    const T* value = std::get_if<T>(&found->second);
    if (value == nullptr) throw std::logic_error("option '" + std::string(name) + "' read with the wrong type");
    return *value;
  }

 private:
  ValueMap values_;
};

}  // namespace fthost::sdk
