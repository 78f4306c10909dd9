#pragma once
// Pre-tokenized data: JSONL with one {"input_ids": [...]} object per line, each line one document.
// Documents are packed into rows of seq_len tokens (attention and targets never cross a document)
// and rows are served in micro-batches, shuffled per epoch by a seeded generator. Text data
// (plain, instruction, chat) is tokenized into the same TokenDataset by text_dataset.hpp.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "model/batch.hpp"

namespace fthost::data {

struct TokenDataset {
  std::vector<std::vector<std::int32_t>> documents;
  // Loss masks: empty (every token is trained on), or one per document, as long as it, 1 where the
  // token is a target (a completion, an assistant turn). See model::HostBatch::add_row.
  std::vector<std::vector<std::uint8_t>> trainable;
  std::int64_t token_count = 0;
  std::int64_t skipped_lines = 0;  // malformed lines a loader skipped (text loader's skip_bad_lines)
};

// Refused with "file:line: ..." for a line that is not JSON, lacks input_ids, holds a non-integer
// or an id outside [0, vocab_size). Blank lines are skipped. A file with no usable document is an error.
sdk::Result<TokenDataset> load_token_jsonl(const std::filesystem::path& file, std::int64_t vocab_size);

// Splits documents longer than seq_len into consecutive pieces of at most seq_len tokens (each
// piece its own document, its loss mask cut with it), then packs them first-fit, in order, into
// rows. Rows carry masks only when the dataset has them.
std::vector<model::PackedRow> pack_rows(const TokenDataset& dataset, std::int64_t seq_len, bool packing);

// Moves round(fraction * documents) of `dataset`'s documents (at least one), chosen by a seeded
// shuffle, into the returned dataset, for evaluation; the rest keep their order. Refused when
// fewer than two documents would leave no training data.
sdk::Result<TokenDataset> hold_out_documents(TokenDataset& dataset, double fraction, std::uint64_t seed);

// Row order for an epoch: a Fisher-Yates shuffle driven by splitmix64, identical on every platform.
std::vector<std::size_t> epoch_order(std::size_t row_count, std::uint64_t seed, std::int64_t epoch, bool shuffle);

class BatchStream {
 public:
  BatchStream(std::vector<model::PackedRow> rows, std::int64_t seq_len,
              std::int64_t micro_batch_size, std::uint64_t seed, bool shuffle);

  // The next micro-batch; wraps to a new (reshuffled) epoch. The last rows of an epoch that do not
  // fill a micro-batch start the next one's batch (no row is dropped or repeated within an epoch).
  model::HostBatch next();
  std::int64_t epoch() const { return epoch_; }
  std::size_t rows_per_epoch() const { return rows_.size(); }
  std::int64_t micro_batches_per_epoch() const;

  // Where the stream is, to resume exactly.
  struct Position {
    std::int64_t epoch = 0;
    std::size_t cursor = 0;
  };
  Position position() const { return {epoch_, cursor_}; }
  void seek(Position position);

 private:
  std::vector<model::PackedRow> rows_;
  std::int64_t seq_len_;
  std::int64_t micro_batch_size_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t epoch_ = 0;
  std::size_t cursor_ = 0;
  std::vector<std::size_t> order_;
};

}  // namespace fthost::data
