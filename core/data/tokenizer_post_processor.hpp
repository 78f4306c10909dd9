#pragma once
// The tokenizer.json "post_processor", for one sequence: the special tokens a TemplateProcessing
// puts around the text when add_special_tokens is set (Llama's <s> / <|begin_of_text|>).
// ByteLevel only adjusts offsets, which fthost does not report, so it changes nothing here.
//
// Implemented: TemplateProcessing (its "single" template), ByteLevel, Sequence. Anything else
// (BertProcessing, RobertaProcessing, ...) is refused with its JSON path.

#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer_json.hpp"

namespace fthost::data {

class PostProcessor {
 public:
  // node is the "post_processor" value (null: none). Throws ConfigError.
  static PostProcessor parse(const tokenizer_json::Json& node, const std::string& path);

  // ids: the encoded text. Wraps it in each template's special tokens when add_special_tokens.
  void apply(std::vector<std::int32_t>& ids, bool add_special_tokens) const;

  // The special ids the templates put before and after the text, outermost first / last.
  std::vector<std::int32_t> prefix_ids() const;
  std::vector<std::int32_t> suffix_ids() const;

 private:
  struct Template {
    std::vector<std::int32_t> before;  // ids of the SpecialTokens before $A
    std::vector<std::int32_t> after;   // and after it
  };
  static void parse_into(const tokenizer_json::Json& node, const std::string& path, std::vector<Template>& templates);

  std::vector<Template> templates_;  // applied in order, each around the result of the previous
};

}  // namespace fthost::data
