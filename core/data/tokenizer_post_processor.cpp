#include "data/tokenizer_post_processor.hpp"

#include <limits>

namespace fthost::data {

using tokenizer_json::Json;

void PostProcessor::parse_into(const Json& node, const std::string& path, std::vector<Template>& templates) {
  namespace json = tokenizer_json;
  std::string type = json::component_type(node, path);
  if (type == "Sequence") {
    const Json& list = json::require_array(node, "processors", path);
    for (std::size_t index = 0; index < list.size(); ++index) {
      parse_into(list[index], json::element(json::member(path, "processors"), index), templates);
    }
  } else if (type == "ByteLevel") {
    // Offsets only.
  } else if (type == "TemplateProcessing") {
    const Json& special_tokens = json::require(node, "special_tokens", path);
    std::string specials_path = json::member(path, "special_tokens");
    const Json& single = json::require_array(node, "single", path);
    std::string single_path = json::member(path, "single");
    Template wrapper;
    bool seen_sequence = false;
    for (std::size_t index = 0; index < single.size(); ++index) {
      std::string where = json::element(single_path, index);
      const Json& piece = single[index];
      if (piece.is_object() && piece.contains("Sequence")) {
        std::string id = json::require_string(piece["Sequence"], "id", json::member(where, "Sequence"));
        if (id != "A" || seen_sequence) json::malformed(where, "the single template takes the sequence $A once");
        seen_sequence = true;
        continue;
      }
      if (!piece.is_object() || !piece.contains("SpecialToken")) {
        json::malformed(where, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
      std::string name = json::require_string(piece["SpecialToken"], "id", json::member(where, "SpecialToken"));
      const Json& special = json::require(special_tokens, name, specials_path);
      const Json& ids = json::require_array(special, "ids", json::member(specials_path, name));
      for (const Json& id : ids) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
            id.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max()) {
          json::malformed(json::member(json::member(specials_path, name), "ids"), "expected token ids");
        }
        (seen_sequence ? wrapper.after : wrapper.before).push_back(static_cast<std::int32_t>(id.get<std::int64_t>()));
      }
    }
    if (!seen_sequence) json::malformed(single_path, "the single template has no $A");
    templates.push_back(std::move(wrapper));
  } else {
    json::unsupported(json::member(path, "type"), "post-processor \"" + type +
                                                      "\" is not supported (fthost implements TemplateProcessing, "
                                                      "ByteLevel, Sequence)");
  }
}

PostProcessor PostProcessor::parse(const Json& node, const std::string& path) {
  PostProcessor processor;
  if (!node.is_null()) parse_into(node, path, processor.templates_);
  return processor;
}

void PostProcessor::apply(std::vector<std::int32_t>& ids, bool add_special_tokens) const {
  if (!add_special_tokens) return;
  for (const Template& wrapper : templates_) {
    ids.insert(ids.begin(), wrapper.before.begin(), wrapper.before.end());
    ids.insert(ids.end(), wrapper.after.begin(), wrapper.after.end());
  }
}

std::vector<std::int32_t> PostProcessor::prefix_ids() const {
  std::vector<std::int32_t> prefix;
  for (auto wrapper = templates_.rbegin(); wrapper != templates_.rend(); ++wrapper) {
    prefix.insert(prefix.end(), wrapper->before.begin(), wrapper->before.end());
  }
  return prefix;
}

std::vector<std::int32_t> PostProcessor::suffix_ids() const {
  std::vector<std::int32_t> suffix;
  for (const Template& wrapper : templates_) suffix.insert(suffix.end(), wrapper.after.begin(), wrapper.after.end());
  return suffix;
}

}  // namespace fthost::data
