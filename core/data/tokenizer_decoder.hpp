#pragma once
// The tokenizer.json "decoder": turns the token strings of some ids back into text. As in
// `tokenizers`, each step maps a list of strings to a list of strings and the result is joined;
// without a decoder the tokens are joined with spaces.
//
// Implemented: Sequence, ByteLevel (invalid UTF-8 becomes U+FFFD, as String::from_utf8_lossy),
// ByteFallback (<0xNN> runs back to bytes; one U+FFFD per byte of an invalid run), Fuse, Strip,
// Replace, Metaspace. Anything else is refused with its JSON path.

#include <cstddef>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "data/tokenizer_json.hpp"
#include "data/tokenizer_regex.hpp"

namespace fthost::data {

class Decoder {
 public:
  // node is the "decoder" value (null: join with spaces). Throws ConfigError.
  static Decoder parse(const tokenizer_json::Json& node, const std::string& path);

  std::string decode(std::vector<std::string> tokens) const;

 private:
  struct ByteLevel {};
  struct ByteFallback {};
  struct Fuse {};
  struct Strip {
    char32_t content;
    std::size_t start;  // at most this many leading `content` characters are removed from each token
    std::size_t stop;   // and this many trailing ones
  };
  struct Replace {
    std::shared_ptr<const UnicodeRegex> pattern;
    std::string content;
  };
  struct Metaspace {
    std::string replacement;
    bool drop_in_first_token;  // prepend_scheme is not "never": the first token loses its replacements
  };
  using Step = std::variant<ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace>;

  static void parse_into(const tokenizer_json::Json& node, const std::string& path, std::vector<Step>& steps);
  static void apply(const Step& step, std::vector<std::string>& tokens);

  bool present_ = false;
  std::vector<Step> steps_;
};

}  // namespace fthost::data
