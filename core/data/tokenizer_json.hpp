#pragma once
// Reading tokenizer.json sections. Helpers throw ConfigError (the JSON path and what is wrong);
// Tokenizer::load catches it and returns an sdk::Error naming the file, so no exception leaves
// the tokenizer's loading code.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fthost::data::tokenizer_json {

using Json = nlohmann::json;

struct ConfigError {
  std::string path;     // e.g. "pre_tokenizer.pretokenizers[0].pattern"
  std::string message;  // e.g. "expected a string"
  bool unsupported;     // a valid setting fthost does not implement (not_implemented), not a malformed file
};

inline std::string member(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string element(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

[[noreturn]] inline void malformed(const std::string& path, std::string message) {
  throw ConfigError{path, std::move(message), false};
}
[[noreturn]] inline void unsupported(const std::string& path, std::string message) {
  throw ConfigError{path, std::move(message), true};
}

inline const Json& require(const Json& object, std::string_view key, const std::string& path) {
  if (!object.is_object()) malformed(path, "expected an object");
  auto found = object.find(key);
  if (found == object.end()) malformed(member(path, key), "missing");
  return *found;
}

inline std::string require_string(const Json& object, std::string_view key, const std::string& path) {
  const Json& value = require(object, key, path);
  if (!value.is_string()) malformed(member(path, key), "expected a string");
  return value.get<std::string>();
}

inline const Json& require_array(const Json& object, std::string_view key, const std::string& path) {
  const Json& value = require(object, key, path);
  if (!value.is_array()) malformed(member(path, key), "expected a list");
  return value;
}

// A boolean member, or fallback when it is absent or null.
inline bool optional_bool(const Json& object, std::string_view key, const std::string& path, bool fallback) {
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) return fallback;
  if (!found->is_boolean()) malformed(member(path, key), "expected true or false");
  return found->get<bool>();
}

inline std::int64_t require_integer(const Json& object, std::string_view key, const std::string& path) {
  const Json& value = require(object, key, path);
  if (!value.is_number_integer()) malformed(member(path, key), "expected an integer");
  return value.get<std::int64_t>();
}

// The "type" of a component: {"type": "ByteLevel", ...}.
inline std::string component_type(const Json& node, const std::string& path) {
  return require_string(node, "type", path);
}

// A Replace/Split "pattern": {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string text;
  bool literal;
};
inline Pattern require_pattern(const Json& object, const std::string& path) {
  const Json& pattern = require(object, "pattern", path);
  std::string where = member(path, "pattern");
  if (pattern.is_object() && pattern.contains("String")) return {require_string(pattern, "String", where), true};
  if (pattern.is_object() && pattern.contains("Regex")) return {require_string(pattern, "Regex", where), false};
  malformed(where, "expected {\"String\": ...} or {\"Regex\": ...}");
}

// A string member that must hold exactly one character (Metaspace's replacement, Strip's content).
inline std::string require_character(const Json& object, std::string_view key, const std::string& path) {
  std::string value = require_string(object, key, path);
  std::size_t length = value.empty() ? 0 : (static_cast<unsigned char>(value[0]) < 0x80   ? 1
                                            : static_cast<unsigned char>(value[0]) < 0xE0 ? 2
                                            : static_cast<unsigned char>(value[0]) < 0xF0 ? 3
                                                                                          : 4);
  if (value.empty() || value.size() != length) malformed(member(path, key), "expected exactly one character");
  return value;
}

}  // namespace fthost::data::tokenizer_json
