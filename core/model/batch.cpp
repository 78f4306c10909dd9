#include "model/batch.hpp"

#include <stdexcept>
#include <string>

namespace fthost::model {

void HostBatch::add_row(std::span<const std::vector<std::int32_t>> documents, std::int32_t pad_id) {
  add_row(documents, {}, pad_id);
}

void HostBatch::add_row(std::span<const std::vector<std::int32_t>> documents,
                        std::span<const std::vector<std::uint8_t>> trainable, std::int32_t pad_id) {
  if (!trainable.empty() && trainable.size() != documents.size()) {
    throw std::logic_error(std::to_string(trainable.size()) + " loss masks for " + std::to_string(documents.size()) +
                           " documents");
  }
  std::vector<DocumentTokens> views(documents.size());
  for (std::size_t d = 0; d < documents.size(); ++d) {
    views[d].tokens = documents[d];
    if (!trainable.empty()) views[d].trainable = trainable[d];
  }
  add_row(views, pad_id);
}

void HostBatch::add_row(std::span<const DocumentTokens> documents, std::int32_t pad_id) {
  std::size_t used = 0;
  for (const DocumentTokens& document : documents) {
    if (!document.trainable.empty() && document.trainable.size() != document.tokens.size()) {
      throw std::logic_error("loss mask of " + std::to_string(document.trainable.size()) +
                             " entries for a document of " + std::to_string(document.tokens.size()) + " tokens");
    }
    used += document.tokens.size();
  }
  if (used > static_cast<std::size_t>(seq_len)) {
    throw std::logic_error("documents of " + std::to_string(used) + " tokens do not fit a row of " +
                           std::to_string(seq_len));
  }
  std::int32_t column = 0;
  for (const DocumentTokens& document : documents) {
    const std::span<const std::int32_t> tokens = document.tokens;
    const std::span<const std::uint8_t> trainable = document.trainable;
    std::int32_t start = column;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      bool has_next = i + 1 < tokens.size();
      bool next_trained = has_next && (trainable.empty() || trainable[i + 1] != 0);
      input_ids.push_back(tokens[i]);
      targets.push_back(next_trained ? tokens[i + 1] : ignored_target);
      positions.push_back(static_cast<std::int32_t>(i));
      doc_start.push_back(start);
      ++column;
    }
  }
  // Padding: each pad token is a one-token document with no target, so it attends only to itself.
  while (column < seq_len) {
    input_ids.push_back(pad_id);
    targets.push_back(ignored_target);
    positions.push_back(0);
    doc_start.push_back(column);
    ++column;
  }
  ++batch_size;
}

std::int64_t HostBatch::target_count() const {
  std::int64_t count = 0;
  for (std::int32_t target : targets) count += target != ignored_target ? 1 : 0;
  return count;
}

Batch upload_batch(backend::Backend& backend, const HostBatch& host) {
  Batch batch;
  batch.batch_size = host.batch_size;
  batch.seq_len = host.seq_len;
  auto upload = [&](const std::vector<std::int32_t>& values) {
    if (values.size() != static_cast<std::size_t>(host.batch_size * host.seq_len)) {
      throw std::logic_error("batch field has " + std::to_string(values.size()) + " entries, expected B*T");
    }
    backend::Tensor tensor = backend.empty(backend::DType::i32, {host.batch_size, host.seq_len});
    backend.upload(tensor, values.data());
    return tensor;
  };
  batch.input_ids = upload(host.input_ids);
  batch.targets = upload(host.targets);
  batch.positions = upload(host.positions);
  batch.doc_start = upload(host.doc_start);
  batch.target_count = host.target_count();
  return batch;
}

}  // namespace fthost::model
