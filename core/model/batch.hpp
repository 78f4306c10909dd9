#pragma once
// A batch of token rows as the model consumes it. Each row holds one or more whole documents
// (packing); attention and next-token targets never cross a document boundary.

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.hpp"

namespace fthost::model {

inline constexpr std::int32_t ignored_target = -100;  // PyTorch's ignore_index

// One document (or a piece of one) of a row, where its tokens lie (a dataset's store, a vector).
struct DocumentTokens {
  std::span<const std::int32_t> tokens;
  // Empty (every token trainable), or as long as `tokens`: 1 = the token is a target.
  std::span<const std::uint8_t> trainable;
};

// Host-side rows, built by the data layer.
struct HostBatch {
  std::int64_t batch_size = 0;  // B
  std::int64_t seq_len = 0;     // T
  std::vector<std::int32_t> input_ids;  // [B*T]
  std::vector<std::int32_t> targets;    // [B*T]: the next token of the same document, or ignored_target
  std::vector<std::int32_t> positions;  // [B*T]: position within the document (restarts at 0)
  std::vector<std::int32_t> doc_start;  // [B*T]: index within the row of the document's first token

  // Appends one row made of `documents` (each a token list) placed one after another and padded
  // with `pad_id` to seq_len; pad tokens form their own ignored documents. The documents must fit.
  void add_row(std::span<const std::vector<std::int32_t>> documents, std::int32_t pad_id = 0);
  // The same with a loss mask: the target of position t is ignored when token t+1 is not trainable
  // (prompt tokens, a user's turn). `trainable` is empty (all trainable) or parallel to `documents`.
  void add_row(std::span<const std::vector<std::int32_t>> documents,
               std::span<const std::vector<std::uint8_t>> trainable, std::int32_t pad_id = 0);
  // The same, the documents given where they lie.
  void add_row(std::span<const DocumentTokens> documents, std::int32_t pad_id = 0);
  std::int64_t target_count() const;  // predictions that count towards the loss
};

// The same rows on a device.
struct Batch {
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  backend::Tensor input_ids;  // [B,T] i32
  backend::Tensor targets;    // [B,T] i32
  backend::Tensor positions;  // [B,T] i32
  backend::Tensor doc_start;  // [B,T] i32
  std::int64_t target_count = 0;

  std::int64_t rows() const { return batch_size * seq_len; }
};

Batch upload_batch(backend::Backend& backend, const HostBatch& host);

}  // namespace fthost::model
