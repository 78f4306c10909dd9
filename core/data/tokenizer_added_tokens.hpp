#pragma once
// The tokenizer.json "added_tokens": tokens found in the text before the model sees it (special
// tokens such as <|eot_id|>, and user-added words). As in `tokenizers`:
// - tokens with normalized = false are matched in the raw text; the stretches between them are
//   normalized, and tokens with normalized = true are then matched in that normalized text;
// - at each position the longest token wins, scanning left to right (Aho-Corasick leftmost-longest);
// - single_word keeps a match only when no word character (Rust regex \w) touches it;
// - lstrip / rstrip make the token swallow the whitespace before / after it;
// - a normalized token is decoded from its normalized form (what the decoder must undo).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer_bpe.hpp"
#include "data/tokenizer_json.hpp"
#include "data/tokenizer_normalizer.hpp"

namespace fthost::data {

struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A stretch [begin, end) of some text: plain text (token_id < 0) or an added token.
struct TextSegment {
  std::size_t begin;
  std::size_t end;
  std::int32_t token_id;
};

class AddedVocabulary {
 public:
  // node is the "added_tokens" list (null or absent: none). Ids of tokens the model also has are
  // the model's, as in `tokenizers`. Throws ConfigError.
  static AddedVocabulary parse(const tokenizer_json::Json& node, const std::string& path, const Normalizer& normalizer,
                               const BpeModel& model);

  // Cuts raw text at the tokens with normalized = false (segments cover text, in order).
  void split_raw(std::string_view text, std::vector<TextSegment>& segments) const;
  // Cuts normalized text at the tokens with normalized = true.
  void split_normalized(std::string_view text, std::vector<TextSegment>& segments) const;

  std::optional<std::int32_t> token_to_id(std::string_view content) const;
  // The string the decoder receives for id (nullptr when id is not an added token).
  const std::string* decoded_form(std::int32_t id) const;
  // Whether decode(skip_special_tokens) drops this string: it is the content of a special token.
  bool is_special_content(std::string_view text) const;
  // One past the largest added id (0 when there are none).
  std::int64_t id_limit() const;

 private:
  // The patterns one of the two scans looks for, grouped by first byte, longest first.
  class Matcher {
   public:
    void build(std::vector<std::pair<std::string, std::size_t>> patterns);  // (text, token index)
    void split(std::string_view text, const std::vector<AddedToken>& tokens, std::vector<TextSegment>& segments) const;

   private:
    struct Pattern {
      std::string text;
      std::size_t token;
    };
    std::vector<Pattern> patterns_;
    std::array<std::uint32_t, 257> bucket_start_{};  // patterns_ starting with byte b: [start[b], start[b+1])
    std::array<bool, 256> starts_pattern_{};         // some pattern starts with this byte
    int only_first_byte_ = -1;                       // the first byte of every pattern, when they share one
  };

  std::vector<AddedToken> tokens_;
  std::vector<std::string> decoded_forms_;  // per token
  StringMap<std::int32_t> id_by_content_;
  std::unordered_map<std::int32_t, std::size_t> token_by_id_;  // the last entry with that id wins
  StringMap<bool> special_contents_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace fthost::data
