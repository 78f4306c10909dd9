#include "data/token_dataset.hpp"

#include "backend/counter_random.hpp"

#include <algorithm>
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

sdk::Result<TokenDataset> load_token_jsonl(const std::filesystem::path& file, std::int64_t vocab_size) {
  std::ifstream stream(file);
  if (!stream) return Error::invalid_input(file.string() + ": cannot read");
  TokenDataset dataset;
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
    std::vector<std::int32_t> document;
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
    dataset.token_count += static_cast<std::int64_t>(document.size());
    dataset.documents.push_back(std::move(document));
  }
  if (dataset.documents.empty()) {
    return Error::invalid_input(file.string() + ": no usable documents (each line needs at least 2 token ids)");
  }
  return dataset;
}

sdk::Result<TokenDataset> hold_out_documents(TokenDataset& dataset, double fraction, std::uint64_t seed) {
  const std::size_t total = dataset.documents.size();
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

  TokenDataset eval;
  TokenDataset train;
  train.skipped_lines = dataset.skipped_lines;
  const bool masked = !dataset.trainable.empty();
  for (std::size_t i = 0; i < total; ++i) {
    TokenDataset& target = held[i] ? eval : train;
    target.token_count += static_cast<std::int64_t>(dataset.documents[i].size());
    target.documents.push_back(std::move(dataset.documents[i]));
    if (masked) target.trainable.push_back(std::move(dataset.trainable[i]));
  }
  dataset = std::move(train);
  return eval;
}

std::vector<model::PackedRow> pack_rows(const TokenDataset& dataset, std::int64_t seq_len, bool packing) {
  const auto capacity = static_cast<std::size_t>(seq_len);
  const bool masked = !dataset.trainable.empty();
  struct Piece {
    std::vector<std::int32_t> tokens;
    std::vector<std::uint8_t> trainable;  // empty when the dataset has no masks
  };
  std::vector<Piece> pieces;
  for (std::size_t d = 0; d < dataset.documents.size(); ++d) {
    const auto& document = dataset.documents[d];
    for (std::size_t first = 0; first < document.size(); first += capacity) {
      std::size_t count = std::min(capacity, document.size() - first);
      if (count < 2) continue;
      auto begin = static_cast<std::ptrdiff_t>(first);
      auto end = static_cast<std::ptrdiff_t>(first + count);
      Piece piece{{document.begin() + begin, document.begin() + end}, {}};
      if (masked) piece.trainable.assign(dataset.trainable[d].begin() + begin, dataset.trainable[d].begin() + end);
      pieces.push_back(std::move(piece));
    }
  }
  std::vector<model::PackedRow> rows;
  std::vector<std::size_t> used;  // tokens in each row
  for (auto& piece : pieces) {
    std::size_t target = rows.size();
    if (packing) {
      for (std::size_t row = 0; row < rows.size(); ++row) {
        if (used[row] + piece.tokens.size() <= capacity) {
          target = row;
          break;
        }
      }
    }
    if (target == rows.size()) {
      rows.emplace_back();
      used.push_back(0);
    }
    used[target] += piece.tokens.size();
    rows[target].documents.push_back(std::move(piece.tokens));
    if (masked) rows[target].trainable.push_back(std::move(piece.trainable));
  }
  return rows;
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

BatchStream::BatchStream(std::vector<model::PackedRow> rows, std::int64_t seq_len,
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
    batch.add_row(rows_[order_[cursor_++]]);
  }
  return batch;
}

void BatchStream::seek(Position position) {
  epoch_ = position.epoch;
  cursor_ = position.cursor;
  order_ = epoch_order(rows_.size(), seed_, epoch_, shuffle_);
}

}  // namespace fthost::data
