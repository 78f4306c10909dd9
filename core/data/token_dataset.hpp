#pragma once
// Pre-tokenized data: JSONL with one {"input_ids": [...]} object per line, each line one document.
// Documents are packed into rows of seq_len tokens (attention and targets never cross a document)
// and rows are served in micro-batches, shuffled per epoch by a seeded generator. Text data
// (plain, instruction, chat) is tokenized into the same TokenDataset by text_dataset.hpp.
// Tokens stay in their store (a mapped file for real data); rows refer to them, and only the
// micro-batch being served is copied out.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "data/token_store.hpp"

#include "fthost/sdk/error.hpp"
#include "model/batch.hpp"

namespace fthost::data {

// The documents of a data set: a view of a TokenStore (token_store.hpp), all of its documents or a
// selection of them (hold_out_documents). Copies share the store.
class TokenDataset {
 public:
  TokenDataset() = default;  // no documents
  explicit TokenDataset(std::shared_ptr<const TokenStore> store);
  // In memory, for small data and tests: `trainable` is empty or one mask per document, as long as it.
  static TokenDataset from_documents(const std::vector<std::vector<std::int32_t>>& documents,
                                     const std::vector<std::vector<std::uint8_t>>& trainable = {});

  std::size_t document_count() const;
  std::span<const std::int32_t> document(std::size_t index) const;
  // Loss mask of a document: empty (every token is trained on) or as long as it, 1 where the token
  // is a target (a completion, an assistant turn). See model::HostBatch::add_row.
  std::span<const std::uint8_t> trainable(std::size_t index) const;
  bool masked() const { return store_ != nullptr && store_->masked(); }
  std::int64_t token_count() const { return token_count_; }
  // Malformed lines a loader skipped (text loader's skip_bad_lines).
  std::int64_t skipped_lines() const { return store_ != nullptr ? store_->skipped_lines() : 0; }

  const std::shared_ptr<const TokenStore>& store() const { return store_; }
  // The store's number of document `index`.
  std::size_t store_document(std::size_t index) const { return selected_ ? selection_[index] : index; }

 private:
  friend sdk::Result<TokenDataset> hold_out_documents(TokenDataset& dataset, double fraction, std::uint64_t seed);

  std::shared_ptr<const TokenStore> store_;
  bool selected_ = false;                 // false: every document of the store, in order
  std::vector<std::size_t> selection_;    // else these, in order
  std::int64_t token_count_ = 0;
};

// Refused with "file:line: ..." for a line that is not JSON, lacks input_ids, holds a non-integer
// or an id outside [0, vocab_size). Blank lines are skipped. A file with no usable document is an error.
// Documents go to `store` (in memory unless told otherwise) one line at a time.
sdk::Result<TokenDataset> load_token_jsonl(const std::filesystem::path& file, std::int64_t vocab_size,
                                           TokenStoreWriter store = {});

// A piece of a document placed in a row: tokens [first, first + count) of the store's flat array.
struct TokenRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

// Rows of seq_len tokens, each a list of pieces of documents; the tokens stay in the store until a
// batch is built.
class PackedRows {
 public:
  PackedRows() = default;
  PackedRows(std::shared_ptr<const TokenStore> store, std::vector<TokenRange> pieces,
             std::vector<std::size_t> row_begin);

  std::size_t size() const { return row_begin_.empty() ? 0 : row_begin_.size() - 1; }
  std::span<const TokenRange> row(std::size_t index) const;
  std::span<const std::int32_t> tokens(TokenRange piece) const { return store_->tokens(piece.first, piece.count); }
  std::span<const std::uint8_t> trainable(TokenRange piece) const { return store_->trainable(piece.first, piece.count); }
  // Appends row `index` to `batch` (its tokens, targets, positions: model::HostBatch::add_row).
  void add_to(model::HostBatch& batch, std::size_t index) const;

 private:
  std::shared_ptr<const TokenStore> store_;
  std::vector<TokenRange> pieces_;      // row by row
  std::vector<std::size_t> row_begin_;  // [rows + 1]: row r is pieces_[row_begin_[r], row_begin_[r + 1])
};

// Splits documents longer than seq_len into consecutive pieces of at most seq_len tokens (each
// piece its own document, its loss mask cut with it; a last piece of one token is dropped), then
// packs them first-fit, in order, into rows (without packing: one piece per row). First fit finds
// the first row with room in O(log rows) (a tree of the rows' free space).
PackedRows pack_rows(const TokenDataset& dataset, std::int64_t seq_len, bool packing);

// Moves round(fraction * documents) of `dataset`'s documents (at least one), chosen by a seeded
// shuffle, into the returned dataset, for evaluation; the rest keep their order. Refused when
// fewer than two documents would leave no training data.
sdk::Result<TokenDataset> hold_out_documents(TokenDataset& dataset, double fraction, std::uint64_t seed);

// Row order for an epoch: a Fisher-Yates shuffle driven by splitmix64, identical on every platform.
std::vector<std::size_t> epoch_order(std::size_t row_count, std::uint64_t seed, std::int64_t epoch, bool shuffle);

class BatchStream {
 public:
  BatchStream(PackedRows rows, std::int64_t seq_len,
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
  PackedRows rows_;
  std::int64_t seq_len_;
  std::int64_t micro_batch_size_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t epoch_ = 0;
  std::size_t cursor_ = 0;
  std::vector<std::size_t> order_;
};

}  // namespace fthost::data
