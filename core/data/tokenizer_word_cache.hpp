#pragma once
// word -> ids for words the BPE model has already encoded, so running text mostly costs one hash
// lookup per word. One flat open-addressing table (linear probing) over two append-only arenas
// (word bytes, ids): a lookup touches one slot and one arena, with no node allocations. When the
// table holds max_words words it is emptied and refilled, so memory stays bounded and the cache
// follows the text. Not thread-safe: BpeModel keeps one per thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fthost::data {

class WordCache {
 public:
  static constexpr std::size_t max_word_bytes = 256;  // longer words are not cached (as in `tokenizers`)

  explicit WordCache(std::size_t max_words = std::size_t{1} << 16);

  static std::uint64_t hash(std::string_view word);

  // Appends the cached ids of word and returns true, or returns false.
  bool lookup(std::string_view word, std::uint64_t word_hash, std::vector<std::int32_t>& ids) const;
  void insert(std::string_view word, std::uint64_t word_hash, std::span<const std::int32_t> ids);
  void clear();

 private:
  struct Slot {
    std::uint64_t hash;
    std::uint32_t word_offset;
    std::uint32_t word_length;  // 0: an empty slot (words are never empty)
    std::uint32_t ids_offset;
    std::uint32_t ids_count;
  };
  std::size_t max_words_;
  std::size_t count_ = 0;
  std::vector<Slot> slots_;  // 2 * max_words (a power of two), allocated on the first insert
  std::string words_;
  std::vector<std::int32_t> ids_;
};

}  // namespace fthost::data
