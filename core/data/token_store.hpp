#pragma once
// Where a dataset's tokens lie: three flat arrays, either in memory (small data, tests) or in a
// file mapped read-only, so that data larger than memory is paged in as batches touch it.
//
// File layout (little-endian, every section 8-byte aligned; the tokenized cache's format):
//   [0, 64)        header: "FTHTOK02", then u64 documents D, tokens N, masked (0/1), skipped lines,
//                  and the byte positions of the three sections below
//   tokens         i32 [N]      every document's tokens, one after another
//   masks          u8  [N]      1 = the token is a target; only when masked
//   offsets        u64 [D + 1]  document d is tokens[offsets[d], offsets[d + 1])
//
// TokenStoreWriter appends documents one at a time: to a file, its masks and offsets go to
// unnamed side files until finish() joins them, so memory stays a few buffers whatever the size.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "model/mapped_file.hpp"

namespace fthost::data {

class TokenStore {
 public:
  // In memory. `offsets` has documents + 1 entries from 0 to tokens.size(); `trainable` is empty or
  // as long as `tokens`.
  TokenStore(std::vector<std::int32_t> tokens, std::vector<std::uint8_t> trainable,
             std::vector<std::uint64_t> offsets, std::int64_t skipped_lines);
  // A store file, mapped; nothing when it is absent, truncated or not a store file (never trusted).
  static std::optional<TokenStore> open_file(const std::filesystem::path& file);

  std::size_t document_count() const { return offsets_.size() - 1; }
  std::uint64_t token_count() const { return offsets_.back(); }
  bool masked() const { return !trainable_.empty(); }
  std::int64_t skipped_lines() const { return skipped_lines_; }
  std::uint64_t document_begin(std::size_t document) const { return offsets_[document]; }
  std::uint64_t document_size(std::size_t document) const { return offsets_[document + 1] - offsets_[document]; }
  // Tokens [first, first + count) of the flat array, and their masks (empty when not masked).
  std::span<const std::int32_t> tokens(std::uint64_t first, std::uint64_t count) const;
  std::span<const std::uint8_t> trainable(std::uint64_t first, std::uint64_t count) const;

 private:
  TokenStore() = default;

  std::optional<model::MappedFile> mapping_;  // the file the spans point into, when mapped
  std::vector<std::int32_t> owned_tokens_;    // or the memory they point into
  std::vector<std::uint8_t> owned_trainable_;
  std::vector<std::uint64_t> owned_offsets_;
  std::span<const std::int32_t> tokens_;
  std::span<const std::uint8_t> trainable_;
  std::span<const std::uint64_t> offsets_;
  std::int64_t skipped_lines_ = 0;
};

class TokenStoreWriter {
 public:
  TokenStoreWriter();  // in memory
  // Written to "<target>.tmp-<pid>", fsynced and renamed over `target` by finish(), as
  // model::write_file_atomically does; an unfinished writer removes its temp file.
  static sdk::Result<TokenStoreWriter> to_file(const std::filesystem::path& target);
  // A file in `folder` that finish() maps and then unlinks: it is gone when the run ends.
  static sdk::Result<TokenStoreWriter> to_temporary_file(const std::filesystem::path& folder);

  TokenStoreWriter(TokenStoreWriter&& other) noexcept;
  TokenStoreWriter& operator=(TokenStoreWriter&& other) noexcept;
  TokenStoreWriter(const TokenStoreWriter&) = delete;
  TokenStoreWriter& operator=(const TokenStoreWriter&) = delete;
  ~TokenStoreWriter();

  // Appends one document. `trainable` is empty or as long as `tokens`; the first document decides
  // whether the store has masks, and every later one must agree.
  sdk::Result<bool> add(std::span<const std::int32_t> tokens, std::span<const std::uint8_t> trainable = {});
  std::size_t document_count() const;
  // The finished store, mapped when written to a file. The writer is spent afterwards.
  sdk::Result<std::shared_ptr<const TokenStore>> finish(std::int64_t skipped_lines);

 private:
  struct State;
  explicit TokenStoreWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace fthost::data
