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
#include <string_view>
#include <variant>
#include <vector>

#include "data/tokenizer_json.hpp"
#include "data/tokenizer_regex.hpp"

namespace fthost::data {

// How a Split keeps the delimiters it finds (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Pieces of text on their way through the pre-tokenizer: spans of one buffer, so splitting
// copies nothing and only the steps that rewrite text (ByteLevel, Metaspace) build a new buffer.
struct TextPieces {
  struct Piece {
    std::size_t begin;
    std::size_t end;
    bool at_text_start;  // begins at offset 0 of the text given to encode()
  };
  std::string_view text;  // the caller's text until a step rewrites it into storage
  std::string storage;
  std::vector<Piece> pieces;

  std::string_view view(const Piece& piece) const { return text.substr(piece.begin, piece.end - piece.begin); }
};

// Working memory of PreTokenizer::split, kept across calls so that splitting allocates nothing
// once the buffers have grown.
struct PreTokenizerScratch {
  struct Cut {
    Span span;
    bool is_match;
  };
  TextPieces rewritten;
  std::vector<TextPieces::Piece> pieces;
  std::vector<Span> matches;
  std::vector<Cut> cuts;
  std::vector<Cut> kept;
};

class PreTokenizer {
 public:
  // node is the "pre_tokenizer" value (null: the whole stretch is one word). Throws ConfigError.
  static PreTokenizer parse(const tokenizer_json::Json& node, const std::string& path);

  // Cuts text (one normalized stretch) into words: words.pieces, in order, none empty (as in
  // `tokenizers`). words may point into text, which must outlive their use. scratch is working
  // memory, reused across calls to spare allocations.
  void split(std::string_view text, bool at_text_start, TextPieces& words, PreTokenizerScratch& scratch) const;

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
  static void apply(const Step& step, TextPieces& pieces, PreTokenizerScratch& scratch);

  std::vector<Step> steps_;
};

}  // namespace fthost::data
