#pragma once
// The tokenizer.json "normalizer": rewrites each stretch of text between added tokens before
// pre-tokenization. A Sequence is flattened into its steps, applied in order.
//
// Implemented: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace (String or Regex
// pattern). Anything else is refused with its JSON path.

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "data/tokenizer_json.hpp"
#include "data/tokenizer_regex.hpp"
#include "data/tokenizer_unicode.hpp"

namespace fthost::data {

class Normalizer {
 public:
  // node is the "normalizer" value (null: no normalizer); path its JSON path. Throws ConfigError.
  static Normalizer parse(const tokenizer_json::Json& node, const std::string& path);

  bool empty() const { return steps_.empty(); }

  // text: valid UTF-8; the result is too.
  std::string apply(std::string_view text) const;

 private:
  struct UnicodeForm {
    unicode::NormalForm form;
  };
  struct Lowercase {};
  struct Prepend {
    std::string prefix;  // added before non-empty text
  };
  struct Replace {
    std::shared_ptr<const UnicodeRegex> pattern;
    std::string content;
  };
  using Step = std::variant<UnicodeForm, Lowercase, Prepend, Replace>;

  static void parse_into(const tokenizer_json::Json& node, const std::string& path, std::vector<Step>& steps);

  std::vector<Step> steps_;
};

// Replaces every match of pattern in text by content (shared with the Replace decoder).
std::string replace_all(const UnicodeRegex& pattern, std::string_view text, std::string_view content);

// Compiles a Replace/Split pattern; a pattern PCRE2 refuses is a ConfigError at path.
std::shared_ptr<const UnicodeRegex> compile_pattern(const tokenizer_json::Pattern& pattern, const std::string& path);

}  // namespace fthost::data
