#pragma once
// The tokenizer.json "model" of type BPE: a vocabulary (token -> id) and ranked merges. Each
// pre-tokenized word starts as one symbol per character (or its <0xNN> byte tokens under
// byte_fallback, or <unk>) and the adjacent pair with the lowest merge rank is merged, leftmost
// first, until no pair has a merge. Words already encoded are remembered (a bounded WordCache per
// thread, so threads never wait on each other), so running text mostly costs one lookup per word.
//
// Settings read: vocab, merges ("a b" strings or ["a", "b"] pairs), unk_token, fuse_unk,
// byte_fallback, ignore_merges, continuing_subword_prefix, end_of_word_suffix. dropout > 0 (random
// merges) is refused.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer_json.hpp"
#include "data/tokenizer_word_cache.hpp"

namespace fthost::data {

// Hash for std::string keys that also looks up std::string_view without building a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // model is the "model" object; path its JSON path. Throws ConfigError.
  static BpeModel parse(const tokenizer_json::Json& model, const std::string& path);

  BpeModel();  // an empty vocabulary, until parse() gives a real one

  // Appends the ids of one word (non-empty, valid UTF-8, as the pre-tokenizer produced it).
  void encode_word(std::string_view word, std::vector<std::int32_t>& ids) const;

  // The same ids from the textbook loop (rescan every pair, merge the lowest rank, leftmost; no
  // cache): the reference the fast path is tested against.
  void encode_word_reference(std::string_view word, std::vector<std::int32_t>& ids) const;

  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(std::int32_t id) const;  // nullptr when no token has the id

  // One past the largest id in the vocabulary.
  std::int64_t id_limit() const { return static_cast<std::int64_t>(tokens_by_id_.size()); }

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t merged_id;
  };
  struct Symbol;  // one piece of a word while merging

  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  const Merge* find_merge(std::int32_t left, std::int32_t right) const;
  // This thread's word cache, emptied when it last served another model.
  WordCache& thread_cache() const;
  // The word's first symbols: characters, byte tokens or <unk>, in `tokenizers`' order.
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void merge_symbols(std::vector<Symbol>& symbols) const;

  StringMap<std::int32_t> vocab_;
  std::vector<std::string> tokens_by_id_;
  std::vector<bool> id_present_;
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::optional<std::int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::optional<std::array<std::int32_t, 256>> byte_fallback_ids_;  // set when byte_fallback is on; -1: missing
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::uint64_t serial_;  // tells this model's per-thread word cache from another model's
};

}  // namespace fthost::data
