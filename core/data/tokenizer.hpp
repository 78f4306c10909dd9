#pragma once
// A Hugging Face tokenizer.json, encoding and decoding exactly as the `tokenizers` library does
// (checked id for id and string for string against it: tests/tokenizer/, fixtures made by
// tools/make_tokenizer_fixtures.py).
//
// encode(text) runs the same pipeline as `tokenizers`:
//   1. added tokens with normalized = false are found in the raw text (longest first);
//   2. each stretch between them is normalized, and added tokens with normalized = true are found
//      in the normalized text;
//   3. each remaining stretch is pre-tokenized into words, and each word is encoded by the model;
//   4. with add_special_tokens, the post-processor's template adds BOS / EOS.
//
// Supported (anything else is refused by load() with one line naming the file and the JSON path):
//   model          BPE: merges by rank, byte_fallback (<0xNN>), unk_token + fuse_unk, ignore_merges,
//                  continuing_subword_prefix, end_of_word_suffix (not dropout)
//   normalizer     Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace
//   pre_tokenizer  Sequence, Split (regex or string, every behaviour), ByteLevel, Metaspace
//   post_processor TemplateProcessing (single sequence), ByteLevel, Sequence
//   decoder        Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace
// That covers GPT-2, Llama 2 / 3, Mistral, Qwen2 and their relatives. Not supported: WordPiece,
// Unigram and WordLevel models; pairs of sequences; offsets. "truncation" and "padding" in the file
// are ignored: encode() always returns every token (fthost packs and cuts rows itself).
//
// Text given to encode() should be UTF-8; invalid bytes are read as U+FFFD (as Python's
// errors="replace" would before handing text to `tokenizers`). A Tokenizer is immutable after
// load() and safe to use from several threads at once.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/error.hpp"

namespace fthost::data {

class Tokenizer {
 public:
  // Reads tokenizer.json (path is the file, or the model folder that holds it), and
  // tokenizer_config.json from the same folder when there is one (for bos_id / eos_id). Errors
  // name the file: "path/tokenizer.json: model.type: ...".
  static sdk::Result<Tokenizer> load(const std::filesystem::path& path);

  // The same from text in memory; source names it in errors. tokenizer_config: the text of
  // tokenizer_config.json, or empty when there is none.
  static sdk::Result<Tokenizer> parse(std::string_view tokenizer_json, std::string_view source,
                                      std::string_view tokenizer_config = {});

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // `tokenizers`' encode(text, add_special_tokens=...).ids.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const;

  // encode() with the textbook BPE merge loop and no word cache: slow; tests hold encode() to it.
  std::vector<std::int32_t> encode_reference(std::string_view text, bool add_special_tokens) const;

  // `tokenizers`' decode(ids, skip_special_tokens=...). Ids with no token are skipped.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const;

  // Added tokens first, then the model's vocabulary.
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  // The token string as the decoder sees it (a normalized added token in its normalized form).
  std::optional<std::string> id_to_token(std::int32_t id) const;

  // One past the largest id (model vocabulary and added tokens): the embedding rows a model needs.
  // Equals `tokenizers`' get_vocab_size(with_added_tokens=True) when ids have no holes.
  std::int64_t vocab_size() const;

  // bos_token / eos_token of tokenizer_config.json (null there: none). Without that file, the
  // special tokens the single template puts first / last.
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;

 private:
  struct Pipeline;
  explicit Tokenizer(std::unique_ptr<Pipeline> pipeline);
  std::vector<std::int32_t> encode_with(std::string_view text, bool add_special_tokens, bool reference) const;

  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace fthost::data
