#include "data/tokenizer_normalizer.hpp"

namespace fthost::data {

using tokenizer_json::Json;

std::shared_ptr<const UnicodeRegex> compile_pattern(const tokenizer_json::Pattern& pattern, const std::string& path) {
  std::string error;
  auto regex = UnicodeRegex::compile(pattern.text, pattern.literal, error);
  if (!regex) tokenizer_json::malformed(tokenizer_json::member(path, "pattern"), "does not compile: " + error);
  return std::make_shared<const UnicodeRegex>(std::move(*regex));
}

std::string replace_all(const UnicodeRegex& pattern, std::string_view text, std::string_view content) {
  std::vector<Span> matches;
  pattern.find_all(text, matches);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size() + matches.size() * content.size());
  std::size_t copied = 0;
  for (const Span& match : matches) {
    out.append(text.substr(copied, match.begin - copied));
    out.append(content);
    copied = match.end;
  }
  out.append(text.substr(copied));
  return out;
}

void Normalizer::parse_into(const Json& node, const std::string& path, std::vector<Step>& steps) {
  namespace json = tokenizer_json;
  std::string type = json::component_type(node, path);
  if (type == "Sequence") {
    const Json& list = json::require_array(node, "normalizers", path);
    for (std::size_t index = 0; index < list.size(); ++index) {
      parse_into(list[index], json::element(json::member(path, "normalizers"), index), steps);
    }
  } else if (type == "NFC") {
    steps.emplace_back(UnicodeForm{unicode::NormalForm::nfc});
  } else if (type == "NFD") {
    steps.emplace_back(UnicodeForm{unicode::NormalForm::nfd});
  } else if (type == "NFKC") {
    steps.emplace_back(UnicodeForm{unicode::NormalForm::nfkc});
  } else if (type == "NFKD") {
    steps.emplace_back(UnicodeForm{unicode::NormalForm::nfkd});
  } else if (type == "Lowercase") {
    steps.emplace_back(Lowercase{});
  } else if (type == "Prepend") {
    steps.emplace_back(Prepend{json::require_string(node, "prepend", path)});
  } else if (type == "Replace") {
    steps.emplace_back(Replace{compile_pattern(json::require_pattern(node, path), path),
                               json::require_string(node, "content", path)});
  } else {
    json::unsupported(json::member(path, "type"), "normalizer \"" + type +
                                                      "\" is not supported (fthost implements Sequence, NFC, NFD, "
                                                      "NFKC, NFKD, Lowercase, Prepend, Replace)");
  }
}

Normalizer Normalizer::parse(const Json& node, const std::string& path) {
  Normalizer normalizer;
  if (!node.is_null()) parse_into(node, path, normalizer.steps_);
  return normalizer;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    if (const auto* form = std::get_if<UnicodeForm>(&step)) {
      current = unicode::normalize(current, form->form);
    } else if (std::holds_alternative<Lowercase>(step)) {
      current = unicode::lowercase(current);
    } else if (const auto* prepend = std::get_if<Prepend>(&step)) {
      if (!current.empty()) current.insert(0, prepend->prefix);
    } else if (const auto* replace = std::get_if<Replace>(&step)) {
      current = replace_all(*replace->pattern, current, replace->content);
    }
  }
  return current;
}

}  // namespace fthost::data
