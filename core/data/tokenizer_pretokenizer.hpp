#pragma once
// The tokenizer.json "pre_tokenizer": cuts each normalized stretch of text into the words the
// model encodes one by one. A Sequence is flattened into its steps, applied in order.
//
// Implemented: Sequence; Split (String or Regex pattern, every delimiter behaviour, invert);
// ByteLevel (add_prefix_space, use_regex with GPT-2's pattern; maps every byte to its printable
// character); Metaspace (replacement, prepend_scheme always/first/never, split). Anything else is
// refused with its JSON path.

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "data/tokenizer_json.hpp"
#include "data/tokenizer_regex.hpp"

namespace fthost::data {

// How a Split keeps the delimiters it finds (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// A piece of text on its way through the pre-tokenizer.
struct TextPiece {
  std::string text;
  bool at_text_start;  // begins at offset 0 of the text given to encode()
};

class PreTokenizer {
 public:
  // node is the "pre_tokenizer" value (null: the whole stretch is one word). Throws ConfigError.
  static PreTokenizer parse(const tokenizer_json::Json& node, const std::string& path);

  // Appends the words of piece to words; empty words are dropped, as in `tokenizers`.
  void split(TextPiece piece, std::vector<std::string>& words) const;

 private:
  enum class PrependScheme { always, first, never };
  struct RegexSplit {
    std::shared_ptr<const UnicodeRegex> pattern;
    SplitBehavior behavior;
    bool invert;
  };
  struct ByteLevel {
    bool add_prefix_space;
    bool use_regex;
  };
  struct Metaspace {
    std::string replacement;  // one character
    PrependScheme prepend_scheme;
    bool split;
  };
  using Step = std::variant<RegexSplit, ByteLevel, Metaspace>;

  static void parse_into(const tokenizer_json::Json& node, const std::string& path, std::vector<Step>& steps);
  static void apply(const Step& step, std::vector<TextPiece>& pieces);

  std::vector<Step> steps_;
};

}  // namespace fthost::data
