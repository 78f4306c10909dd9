#include "data/tokenizer_word_cache.hpp"

#include <bit>
#include <functional>

namespace fthost::data {

WordCache::WordCache(std::size_t max_words) : max_words_(std::bit_ceil(max_words)) {}

std::uint64_t WordCache::hash(std::string_view word) { return std::hash<std::string_view>{}(word); }

bool WordCache::lookup(std::string_view word, std::uint64_t word_hash, std::vector<std::int32_t>& ids) const {
  if (slots_.empty()) return false;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t index = word_hash & mask;; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.word_length == 0) return false;
    if (slot.hash == word_hash && std::string_view(words_).substr(slot.word_offset, slot.word_length) == word) {
      if (slot.ids_count == 1) {  // most words: spare insert()'s memmove
        ids.push_back(ids_[slot.ids_offset]);
      } else {
        auto first = ids_.begin() + slot.ids_offset;
        ids.insert(ids.end(), first, first + slot.ids_count);
      }
      return true;
    }
  }
}

void WordCache::insert(std::string_view word, std::uint64_t word_hash, std::span<const std::int32_t> ids) {
  if (word.empty() || word.size() > max_word_bytes) return;
  if (slots_.empty()) slots_.assign(2 * max_words_, Slot{});
  if (count_ >= max_words_) clear();
  const std::size_t mask = slots_.size() - 1;
  std::size_t index = word_hash & mask;
  while (slots_[index].word_length != 0) {
    const Slot& slot = slots_[index];
    if (slot.hash == word_hash && std::string_view(words_).substr(slot.word_offset, slot.word_length) == word) return;
    index = (index + 1) & mask;
  }
  slots_[index] = {word_hash, static_cast<std::uint32_t>(words_.size()), static_cast<std::uint32_t>(word.size()),
                   static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint32_t>(ids.size())};
  words_.append(word);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++count_;
}

void WordCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  words_.clear();
  ids_.clear();
  count_ = 0;
}

}  // namespace fthost::data
