#include "data/token_dataset.hpp"

#include "backend/counter_random.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

namespace fthost::data {
namespace {

using sdk::Error;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

TokenDataset::TokenDataset(std::shared_ptr<const TokenStore> store) : store_(std::move(store)) {
  if (store_ != nullptr) token_count_ = static_cast<std::int64_t>(store_->token_count());
}

TokenDataset TokenDataset::from_documents(const std::vector<std::vector<std::int32_t>>& documents,
                                          const std::vector<std::vector<std::uint8_t>>& trainable) {
  TokenStoreWriter writer;
  for (std::size_t d = 0; d < documents.size(); ++d) {
    writer.add(documents[d], trainable.empty() ? std::span<const std::uint8_t>() : std::span(trainable[d]));
  }
  return TokenDataset(*writer.finish(0));  // in memory: cannot fail
}

std::size_t TokenDataset::document_count() const {
  if (selected_) return selection_.size();
  return store_ != nullptr ? store_->document_count() : 0;
}

std::span<const std::int32_t> TokenDataset::document(std::size_t index) const {
  const std::size_t stored = store_document(index);
  return store_->tokens(store_->document_begin(stored), store_->document_size(stored));
}

std::span<const std::uint8_t> TokenDataset::trainable(std::size_t index) const {
  const std::size_t stored = store_document(index);
  return store_->trainable(store_->document_begin(stored), store_->document_size(stored));
}

sdk::Result<TokenDataset> load_token_jsonl(const std::filesystem::path& file, std::int64_t vocab_size,
                                           TokenStoreWriter store) {
  std::ifstream stream(file);
  if (!stream) return Error::invalid_input(file.string() + ": cannot read");
  std::vector<std::int32_t> document;
  std::string line;
  std::int64_t line_number = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    std::string where = file.string() + ":" + std::to_string(line_number) + ": ";
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      return Error::invalid_input(where + "not a JSON object (expected {\"input_ids\": [...]})");
    }
    if (!record.is_object() || !record.contains("input_ids") || !record["input_ids"].is_array()) {
      return Error::invalid_input(where + "expected an object with an \"input_ids\" list of token ids");
    }
    document.clear();
    for (const auto& id : record["input_ids"]) {
      if (!id.is_number_integer()) return Error::invalid_input(where + "input_ids holds a value that is not an integer");
      auto value = id.get<std::int64_t>();
      if (value < 0 || value >= vocab_size) {
        return Error::invalid_input(where + "token id " + std::to_string(value) + " is outside the vocabulary [0, " +
                                    std::to_string(vocab_size) + ")");
      }
      document.push_back(static_cast<std::int32_t>(value));
    }
    if (document.size() < 2) continue;  // a single token predicts nothing
    if (auto added = store.add(document); !added) return added.error();
  }
  if (store.document_count() == 0) {
    return Error::invalid_input(file.string() + ": no usable documents (each line needs at least 2 token ids)");
  }
  auto finished = store.finish(0);
  if (!finished) return finished.error();
  return TokenDataset(std::move(*finished));
}

sdk::Result<TokenDataset> hold_out_documents(TokenDataset& dataset, double fraction, std::uint64_t seed) {
  const std::size_t total = dataset.document_count();
  const auto wanted = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(total)));
  const std::size_t count = std::max<std::size_t>(1, wanted);
  if (count >= total) {
    return sdk::Error::invalid_input("data.eval_split " + std::to_string(fraction) + " of " + std::to_string(total) +
                                     " documents leaves none to train on");
  }
  // A seeded Fisher-Yates over document indices; the first `count` are held out.
  std::vector<std::size_t> order(total);
  for (std::size_t i = 0; i < total; ++i) order[i] = i;
  for (std::size_t i = total - 1; i > 0; --i) {
    const std::size_t j = static_cast<std::size_t>(backend::counter_mix(seed, i) % (i + 1));
    std::swap(order[i], order[j]);
  }
  std::vector<bool> held(total, false);
  for (std::size_t i = 0; i < count; ++i) held[order[i]] = true;
  order.clear();
  order.shrink_to_fit();

  // Both parts keep the store and select its documents, in their order.
  TokenDataset eval(dataset.store_);
  TokenDataset train(dataset.store_);
  for (TokenDataset* part : {&eval, &train}) {
    part->selected_ = true;
    part->token_count_ = 0;
  }
  for (std::size_t i = 0; i < total; ++i) {
    TokenDataset& target = held[i] ? eval : train;
    target.selection_.push_back(dataset.store_document(i));
    target.token_count_ += static_cast<std::int64_t>(dataset.document(i).size());
  }
  dataset = std::move(train);
  return eval;
}

PackedRows::PackedRows(std::shared_ptr<const TokenStore> store, std::vector<TokenRange> pieces,
                       std::vector<std::size_t> row_begin)
    : store_(std::move(store)), pieces_(std::move(pieces)), row_begin_(std::move(row_begin)) {}

std::span<const TokenRange> PackedRows::row(std::size_t index) const {
  return std::span(pieces_).subspan(row_begin_[index], row_begin_[index + 1] - row_begin_[index]);
}

void PackedRows::add_to(model::HostBatch& batch, std::size_t index) const {
  std::vector<model::DocumentTokens> documents;
  for (const TokenRange& piece : row(index)) documents.push_back({tokens(piece), trainable(piece)});
  batch.add_row(documents);
}

PackedRows pack_rows(const TokenDataset& dataset, std::int64_t seq_len, bool packing) {
  const auto capacity = static_cast<std::uint64_t>(seq_len);
  std::vector<TokenRange> pieces;
  for (std::size_t d = 0; d < dataset.document_count(); ++d) {
    const std::size_t stored = dataset.store_document(d);
    const std::uint64_t begin = dataset.store()->document_begin(stored);
    const std::uint64_t size = dataset.store()->document_size(stored);
    for (std::uint64_t first = 0; first < size; first += capacity) {
      const std::uint64_t count = std::min(capacity, size - first);
      if (count >= 2) pieces.push_back({begin + first, count});
    }
  }
  // First fit: the first row whose free space holds the piece. A tree over the rows keeps the most
  // free space below each node; rows not opened yet are empty, so the leftmost row that fits is an
  // open one when any fits, else the next new one: the same rows as a linear scan, in O(log rows).
  std::vector<std::size_t> row_of(pieces.size());
  std::size_t rows = 0;
  if (packing) {
    std::size_t leaves = 1;
    while (leaves < pieces.size()) leaves *= 2;
    std::vector<std::uint64_t> free_space(2 * leaves, capacity);  // node n: max over its leaves; leaf l at leaves + l
    for (std::size_t p = 0; p < pieces.size(); ++p) {
      std::size_t node = 1;
      while (node < leaves) node = free_space[2 * node] >= pieces[p].count ? 2 * node : 2 * node + 1;
      const std::size_t row = node - leaves;
      row_of[p] = row;
      rows = std::max(rows, row + 1);
      free_space[node] -= pieces[p].count;
      for (node /= 2; node >= 1; node /= 2) free_space[node] = std::max(free_space[2 * node], free_space[2 * node + 1]);
    }
  } else {
    for (std::size_t p = 0; p < pieces.size(); ++p) row_of[p] = p;
    rows = pieces.size();
  }
  // Pieces grouped by row, in the order they were placed (a counting sort).
  std::vector<std::size_t> row_begin(rows + 1, 0);
  for (std::size_t row : row_of) ++row_begin[row + 1];
  for (std::size_t row = 0; row < rows; ++row) row_begin[row + 1] += row_begin[row];
  std::vector<std::size_t> next(row_begin.begin(), row_begin.end() - 1);
  std::vector<TokenRange> placed(pieces.size());
  for (std::size_t p = 0; p < pieces.size(); ++p) placed[next[row_of[p]]++] = pieces[p];
  return PackedRows(dataset.store(), std::move(placed), std::move(row_begin));
}

std::vector<std::size_t> epoch_order(std::size_t row_count, std::uint64_t seed, std::int64_t epoch, bool shuffle) {
  std::vector<std::size_t> order(row_count);
  for (std::size_t i = 0; i < row_count; ++i) order[i] = i;
  if (!shuffle) return order;
  std::uint64_t state = seed * 0x2545f4914f6cdd1dULL + static_cast<std::uint64_t>(epoch);
  for (std::size_t i = row_count; i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(splitmix64(state) % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

BatchStream::BatchStream(PackedRows rows, std::int64_t seq_len,
                         std::int64_t micro_batch_size, std::uint64_t seed, bool shuffle)
    : rows_(std::move(rows)), seq_len_(seq_len), micro_batch_size_(micro_batch_size), seed_(seed), shuffle_(shuffle) {
  order_ = epoch_order(rows_.size(), seed_, epoch_, shuffle_);
}

std::int64_t BatchStream::micro_batches_per_epoch() const {
  auto rows = static_cast<std::int64_t>(rows_.size());
  return (rows + micro_batch_size_ - 1) / micro_batch_size_;
}

model::HostBatch BatchStream::next() {
  model::HostBatch batch;
  batch.seq_len = seq_len_;
  for (std::int64_t i = 0; i < micro_batch_size_; ++i) {
    if (cursor_ == order_.size()) {
      ++epoch_;
      cursor_ = 0;
      order_ = epoch_order(rows_.size(), seed_, epoch_, shuffle_);
    }
    rows_.add_to(batch, order_[cursor_++]);
  }
  return batch;
}

void BatchStream::seek(Position position) {
  epoch_ = position.epoch;
  cursor_ = position.cursor;
  order_ = epoch_order(rows_.size(), seed_, epoch_, shuffle_);
}

}  // namespace fthost::data
