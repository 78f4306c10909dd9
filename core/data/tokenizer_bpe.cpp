#include "data/tokenizer_bpe.hpp"

#include <algorithm>
#include <atomic>
#include <limits>

#include "data/tokenizer_unicode.hpp"

namespace fthost::data {

using tokenizer_json::Json;

struct BpeModel::Symbol {
  std::int32_t id;
  std::int32_t previous;  // index of the symbol on the left, -1 at the start
  std::int32_t next;      // index of the symbol on the right, -1 at the end
  bool removed;           // merged into the symbol on its left
};

namespace {
std::atomic<std::uint64_t> next_model_serial{1};
}  // namespace

BpeModel::BpeModel() : serial_(next_model_serial.fetch_add(1)) {}

WordCache& BpeModel::thread_cache() const {
  // One cache per thread, owned by the last model that used it there: no locks, bounded memory,
  // and a serial (never reused, unlike an address) tells when it holds another model's words.
  struct Owned {
    std::uint64_t owner = 0;
    WordCache cache;
  };
  thread_local Owned owned;
  if (owned.owner != serial_) {
    owned.cache.clear();
    owned.owner = serial_;
  }
  return owned.cache;
}

namespace {

// A merges entry: "left right" (files before tokenizers 0.20) or ["left", "right"].
std::pair<std::string, std::string> parse_merge(const Json& entry, const std::string& path) {
  namespace json = tokenizer_json;
  if (entry.is_string()) {
    auto text = entry.get<std::string>();
    std::size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      json::malformed(path, "expected \"left right\" (two tokens and one space), got \"" + text + "\"");
    }
    return {text.substr(0, space), text.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return {entry[0].get<std::string>(), entry[1].get<std::string>()};
  }
  json::malformed(path, "expected \"left right\" or [\"left\", \"right\"]");
}

std::string optional_string(const Json& object, std::string_view key, const std::string& path) {
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) return {};
  if (!found->is_string()) tokenizer_json::malformed(tokenizer_json::member(path, key), "expected a string or null");
  return found->get<std::string>();
}

}  // namespace

BpeModel BpeModel::parse(const Json& model, const std::string& path) {
  namespace json = tokenizer_json;
  BpeModel bpe;
  const Json& vocab = json::require(model, "vocab", path);
  std::string vocab_path = json::member(path, "vocab");
  if (!vocab.is_object()) json::malformed(vocab_path, "expected an object of token: id");
  std::int64_t largest_id = -1;
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
        id.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max()) {
      json::malformed(json::member(vocab_path, token), "expected an id in [0, 2^31)");
    }
    auto value = static_cast<std::int32_t>(id.get<std::int64_t>());
    bpe.vocab_.emplace(token, value);
    largest_id = std::max<std::int64_t>(largest_id, value);
  }
  // Ids index a table; a file with ids far beyond its size is refused rather than allocated for.
  if (largest_id >= 2 * static_cast<std::int64_t>(bpe.vocab_.size()) + 1024) {
    json::malformed(vocab_path, "ids are too sparse (largest " + std::to_string(largest_id) + " for " +
                                    std::to_string(bpe.vocab_.size()) + " tokens)");
  }
  bpe.tokens_by_id_.resize(static_cast<std::size_t>(largest_id + 1));
  bpe.id_present_.resize(static_cast<std::size_t>(largest_id + 1), false);
  for (const auto& [token, id] : bpe.vocab_) {
    bpe.tokens_by_id_[static_cast<std::size_t>(id)] = token;
    bpe.id_present_[static_cast<std::size_t>(id)] = true;
  }

  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && (!dropout->is_number() || dropout->get<double>() != 0.0)) {
    json::unsupported(json::member(path, "dropout"), "BPE dropout (random merges) is not supported");
  }
  bpe.continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix", path);
  bpe.end_of_word_suffix_ = optional_string(model, "end_of_word_suffix", path);
  bpe.fuse_unk_ = json::optional_bool(model, "fuse_unk", path, false);
  bpe.ignore_merges_ = json::optional_bool(model, "ignore_merges", path, false);
  std::string unk_token = optional_string(model, "unk_token", path);
  if (!unk_token.empty()) {
    auto id = bpe.token_to_id(unk_token);
    if (!id) json::malformed(json::member(path, "unk_token"), "\"" + unk_token + "\" is not in the vocabulary");
    bpe.unk_id_ = *id;
  }
  if (json::optional_bool(model, "byte_fallback", path, false)) {
    std::array<std::int32_t, 256> ids{};
    for (std::size_t byte = 0; byte < 256; ++byte) {
      static constexpr char hex[] = "0123456789ABCDEF";
      std::string token = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
      ids[byte] = bpe.token_to_id(token).value_or(-1);
    }
    bpe.byte_fallback_ids_ = ids;
  }

  const Json& merges = json::require_array(model, "merges", path);
  std::string merges_path = json::member(path, "merges");
  std::size_t prefix_length = bpe.continuing_subword_prefix_.size();
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    std::string where = json::element(merges_path, rank);
    auto [left, right] = parse_merge(merges[rank], where);
    auto left_id = bpe.token_to_id(left);
    auto right_id = bpe.token_to_id(right);
    // As `tokenizers`: the merged token drops the right side's continuing-subword prefix.
    std::string merged = left + (right.size() >= prefix_length ? right.substr(prefix_length) : std::string());
    auto merged_id = bpe.token_to_id(merged);
    if (!left_id || !right_id || !merged_id) {
      const std::string& missing = !left_id ? left : !right_id ? right : merged;
      json::malformed(where, "token \"" + missing + "\" is not in the vocabulary");
    }
    // A pair listed twice keeps its last rank, as `tokenizers`' map does.
    bpe.merges_[pair_key(*left_id, *right_id)] = Merge{static_cast<std::int32_t>(rank), *merged_id};
  }
  return bpe;
}

std::optional<std::int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto found = vocab_.find(token);
  if (found == vocab_.end()) return std::nullopt;
  return found->second;
}

const std::string* BpeModel::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_by_id_.size() || !id_present_[static_cast<std::size_t>(id)]) {
    return nullptr;
  }
  return &tokens_by_id_[static_cast<std::size_t>(id)];
}

const BpeModel::Merge* BpeModel::find_merge(std::int32_t left, std::int32_t right) const {
  auto found = merges_.find(pair_key(left, right));
  return found == merges_.end() ? nullptr : &found->second;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  auto add = [&symbols](std::int32_t id) {
    auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, false});
    if (index > 0) symbols[static_cast<std::size_t>(index - 1)].next = index;
  };
  // A run of unknown characters waiting to be added: one <unk> (fuse_unk) or one per character.
  bool unk_pending = false;
  std::string decorated;
  for (std::size_t position = 0; position < word.size();) {
    std::size_t length = unicode::decode_at(word, position).length;
    std::string_view character = word.substr(position, length);
    bool first = position == 0;
    position += length;
    bool last = position == word.size();
    std::string_view symbol = character;
    if ((!first && !continuing_subword_prefix_.empty()) || (last && !end_of_word_suffix_.empty())) {
      decorated.assign(first ? std::string_view() : std::string_view(continuing_subword_prefix_));
      decorated.append(character);
      if (last) decorated.append(end_of_word_suffix_);
      symbol = decorated;
    }
    if (auto id = token_to_id(symbol)) {
      if (unk_pending) add(*unk_id_);
      unk_pending = false;
      add(*id);
      continue;
    }
    if (byte_fallback_ids_ &&
        std::all_of(symbol.begin(), symbol.end(),
                    [this](char byte) { return (*byte_fallback_ids_)[static_cast<unsigned char>(byte)] >= 0; })) {
      // As `tokenizers`: byte tokens go in without first emitting a pending <unk>.
      for (char byte : symbol) add((*byte_fallback_ids_)[static_cast<unsigned char>(byte)]);
      continue;
    }
    if (!unk_id_) continue;  // no <unk>: the character is dropped, as in `tokenizers`
    if (unk_pending && !fuse_unk_) add(*unk_id_);
    unk_pending = true;
  }
  if (unk_pending) add(*unk_id_);
}

void BpeModel::merge_symbols(std::vector<Symbol>& symbols) const {
  // Candidate merges, lowest rank first and leftmost among equal ranks. Entries go stale when a
  // neighbour merges first; they are recognised on pop and skipped (as in `tokenizers`' word.rs).
  struct Candidate {
    std::int32_t rank;
    std::int32_t position;
    std::int32_t merged_id;
  };
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
  };
  std::vector<Candidate> queue;
  queue.reserve(symbols.size());
  for (std::size_t index = 0; index + 1 < symbols.size(); ++index) {
    if (const Merge* merge = find_merge(symbols[index].id, symbols[index + 1].id)) {
      queue.push_back({merge->rank, static_cast<std::int32_t>(index), merge->merged_id});
    }
  }
  std::make_heap(queue.begin(), queue.end(), later);
  auto push = [&](std::int32_t position, const Merge* merge) {
    queue.push_back({merge->rank, position, merge->merged_id});
    std::push_heap(queue.begin(), queue.end(), later);
  };
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    Candidate top = queue.back();
    queue.pop_back();
    Symbol& symbol = symbols[static_cast<std::size_t>(top.position)];
    if (symbol.removed || symbol.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(symbol.next)];
    const Merge* current = find_merge(symbol.id, right.id);
    if (current == nullptr || current->merged_id != top.merged_id) continue;  // stale entry
    symbol.id = top.merged_id;
    symbol.next = right.next;
    right.removed = true;
    if (symbol.next >= 0) symbols[static_cast<std::size_t>(symbol.next)].previous = top.position;
    if (symbol.previous >= 0) {
      if (const Merge* merge = find_merge(symbols[static_cast<std::size_t>(symbol.previous)].id, symbol.id)) {
        push(symbol.previous, merge);
      }
    }
    if (symbol.next >= 0) {
      if (const Merge* merge = find_merge(symbol.id, symbols[static_cast<std::size_t>(symbol.next)].id)) {
        push(top.position, merge);
      }
    }
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int32_t>& ids) const {
  // The cache first: it also remembers the words ignore_merges takes whole, so a word costs one lookup.
  WordCache& cache = thread_cache();
  std::uint64_t hash = WordCache::hash(word);
  if (cache.lookup(word, hash, ids)) return;
  std::size_t first = ids.size();
  if (auto id = ignore_merges_ ? token_to_id(word) : std::nullopt) {
    ids.push_back(*id);
  } else {
    thread_local std::vector<Symbol> symbols;
    initial_symbols(word, symbols);
    merge_symbols(symbols);
    for (const Symbol& symbol : symbols) {
      if (!symbol.removed) ids.push_back(symbol.id);
    }
  }
  cache.insert(word, hash, std::span<const std::int32_t>(ids).subspan(first));
}

void BpeModel::encode_word_reference(std::string_view word, std::vector<std::int32_t>& ids) const {
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      ids.push_back(*id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  std::vector<std::int32_t> pieces;
  for (const Symbol& symbol : symbols) pieces.push_back(symbol.id);
  while (true) {
    const Merge* best = nullptr;
    std::size_t best_index = 0;
    for (std::size_t index = 0; index + 1 < pieces.size(); ++index) {
      const Merge* merge = find_merge(pieces[index], pieces[index + 1]);
      if (merge != nullptr && (best == nullptr || merge->rank < best->rank)) {
        best = merge;
        best_index = index;
      }
    }
    if (best == nullptr) break;
    pieces[best_index] = best->merged_id;
    pieces.erase(pieces.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  ids.insert(ids.end(), pieces.begin(), pieces.end());
}

}  // namespace fthost::data
