#include "data/tokenizer_added_tokens.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "data/tokenizer_unicode.hpp"

namespace fthost::data {

using tokenizer_json::Json;

AddedVocabulary AddedVocabulary::parse(const Json& node, const std::string& path, const Normalizer& normalizer,
                                       const BpeModel& model) {
  namespace json = tokenizer_json;
  AddedVocabulary vocabulary;
  if (node.is_null()) return vocabulary;
  if (!node.is_array()) json::malformed(path, "expected a list of tokens");
  for (std::size_t index = 0; index < node.size(); ++index) {
    std::string where = json::element(path, index);
    const Json& entry = node[index];
    AddedToken token;
    token.content = json::require_string(entry, "content", where);
    std::int64_t id = json::require_integer(entry, "id", where);
    if (id < 0 || id > std::numeric_limits<std::int32_t>::max()) {
      json::malformed(json::member(where, "id"), "out of range");
    }
    token.id = model.token_to_id(token.content).value_or(static_cast<std::int32_t>(id));
    token.single_word = json::optional_bool(entry, "single_word", where, false);
    token.lstrip = json::optional_bool(entry, "lstrip", where, false);
    token.rstrip = json::optional_bool(entry, "rstrip", where, false);
    token.special = json::optional_bool(entry, "special", where, false);
    token.normalized = json::optional_bool(entry, "normalized", where, !token.special);
    if (token.content.empty()) continue;  // `tokenizers` ignores empty tokens
    vocabulary.id_by_content_[token.content] = token.id;
    vocabulary.token_by_id_[token.id] = vocabulary.tokens_.size();
    if (token.special) vocabulary.special_contents_[token.content] = true;
    vocabulary.tokens_.push_back(std::move(token));
  }

  std::vector<std::pair<std::string, std::size_t>> raw_patterns;
  std::vector<std::pair<std::string, std::size_t>> normalized_patterns;
  for (std::size_t index = 0; index < vocabulary.tokens_.size(); ++index) {
    const AddedToken& token = vocabulary.tokens_[index];
    std::string form = token.normalized && !normalizer.empty() ? normalizer.apply(token.content) : token.content;
    vocabulary.decoded_forms_.push_back(form);
    if (token.normalized) normalized_patterns.emplace_back(std::move(form), index);
    else raw_patterns.emplace_back(token.content, index);
  }
  vocabulary.raw_.build(std::move(raw_patterns));
  vocabulary.normalized_.build(std::move(normalized_patterns));
  return vocabulary;
}

void AddedVocabulary::Matcher::build(std::vector<std::pair<std::string, std::size_t>> patterns) {
  // By first byte, then longest first: the first pattern that fits at a position is the longest.
  std::stable_sort(patterns.begin(), patterns.end(), [](const auto& a, const auto& b) {
    auto a_first = static_cast<unsigned char>(a.first.front());
    auto b_first = static_cast<unsigned char>(b.first.front());
    return a_first != b_first ? a_first < b_first : a.first.size() > b.first.size();
  });
  patterns_.clear();
  bucket_start_.fill(0);
  for (auto& [text, token] : patterns) {
    if (text.empty()) continue;
    ++bucket_start_[static_cast<unsigned char>(text.front()) + 1u];
    patterns_.push_back({std::move(text), token});
  }
  for (std::size_t byte = 1; byte < bucket_start_.size(); ++byte) bucket_start_[byte] += bucket_start_[byte - 1];
  only_first_byte_ = -1;
  int distinct_first_bytes = 0;
  for (std::size_t byte = 0; byte < 256; ++byte) {
    starts_pattern_[byte] = bucket_start_[byte + 1] > bucket_start_[byte];
    if (starts_pattern_[byte]) {
      ++distinct_first_bytes;
      only_first_byte_ = static_cast<int>(byte);
    }
  }
  if (distinct_first_bytes != 1) only_first_byte_ = -1;
}

void AddedVocabulary::Matcher::split(std::string_view text, const std::vector<AddedToken>& tokens,
                                     std::vector<TextSegment>& segments) const {
  std::size_t start_offset = 0;  // where the text not yet covered by segments begins
  for (std::size_t position = 0; position < text.size() && !patterns_.empty();) {
    if (only_first_byte_ >= 0) {  // special tokens mostly all start with '<': memchr to the next one
      const void* next = std::memchr(text.data() + position, only_first_byte_, text.size() - position);
      if (next == nullptr) break;
      position = static_cast<std::size_t>(static_cast<const char*>(next) - text.data());
    }
    auto first_byte = static_cast<unsigned char>(text[position]);
    if (!starts_pattern_[first_byte]) {
      ++position;
      continue;
    }
    const Pattern* found = nullptr;
    for (std::uint32_t index = bucket_start_[first_byte]; index < bucket_start_[first_byte + 1u]; ++index) {
      if (text.compare(position, patterns_[index].text.size(), patterns_[index].text) == 0) {
        found = &patterns_[index];
        break;
      }
    }
    if (found == nullptr) {
      ++position;
      continue;
    }
    std::size_t start = position;
    std::size_t stop = position + found->text.size();
    position = stop;  // the search resumes after this match even when it is discarded below
    const AddedToken& token = tokens[found->token];
    if (token.single_word) {
      std::size_t before = start > 0 ? start - unicode::last_length(text.substr(0, start)) : 0;
      bool word_before = start > 0 && unicode::is_word_character(unicode::decode_at(text, before).value);
      bool word_after = stop < text.size() && unicode::is_word_character(unicode::decode_at(text, stop).value);
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      std::size_t stripped = start;
      while (stripped > 0) {
        std::size_t length = unicode::last_length(text.substr(0, stripped));
        if (!unicode::is_whitespace(unicode::decode_at(text, stripped - length).value)) break;
        stripped -= length;
      }
      start = std::max(stripped, start_offset);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        unicode::CodePoint next = unicode::decode_at(text, stop);
        if (!unicode::is_whitespace(next.value)) break;
        stop += next.length;
      }
    }
    if (start_offset < start) segments.push_back({start_offset, start, -1});
    segments.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) segments.push_back({start_offset, text.size(), -1});
}

void AddedVocabulary::split_raw(std::string_view text, std::vector<TextSegment>& segments) const {
  raw_.split(text, tokens_, segments);
}

void AddedVocabulary::split_normalized(std::string_view text, std::vector<TextSegment>& segments) const {
  normalized_.split(text, tokens_, segments);
}

std::optional<std::int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto found = id_by_content_.find(content);
  if (found == id_by_content_.end()) return std::nullopt;
  return found->second;
}

const std::string* AddedVocabulary::decoded_form(std::int32_t id) const {
  auto found = token_by_id_.find(id);
  return found == token_by_id_.end() ? nullptr : &decoded_forms_[found->second];
}

bool AddedVocabulary::is_special_content(std::string_view text) const {
  return special_contents_.find(text) != special_contents_.end();
}

std::int64_t AddedVocabulary::id_limit() const {
  std::int64_t limit = 0;
  for (const AddedToken& token : tokens_) limit = std::max<std::int64_t>(limit, std::int64_t{token.id} + 1);
  return limit;
}

}  // namespace fthost::data
