#include "model/batch.hpp"

#include <stdexcept>
#include <string>

namespace fthost::model {

void HostBatch::add_row(std::span<const std::vector<std::int32_t>> documents, std::int32_t pad_id) {
  std::size_t used = 0;
  for (const auto& document : documents) used += document.size();
  if (used > static_cast<std::size_t>(seq_len)) {
    throw std::logic_error("documents of " + std::to_string(used) + " tokens do not fit a row of " +
                           std::to_string(seq_len));
  }
  std::int32_t column = 0;
  for (const auto& document : documents) {
    std::int32_t start = column;
    for (std::size_t i = 0; i < document.size(); ++i) {
      input_ids.push_back(document[i]);
      targets.push_back(i + 1 < document.size() ? document[i + 1] : ignored_target);
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
