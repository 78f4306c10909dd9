#pragma once
// A TokenDataset's documents and masks copied into vectors, to compare with expected ones.

#include <cstdint>
#include <span>
#include <vector>

#include "data/token_dataset.hpp"

namespace fthost::test {

template <typename T>
std::vector<T> as_vector(std::span<const T> values) {
  return {values.begin(), values.end()};
}

inline std::vector<std::vector<std::int32_t>> documents_of(const data::TokenDataset& dataset) {
  std::vector<std::vector<std::int32_t>> documents;
  for (std::size_t d = 0; d < dataset.document_count(); ++d) documents.push_back(as_vector(dataset.document(d)));
  return documents;
}

// Empty when the dataset has no masks.
inline std::vector<std::vector<std::uint8_t>> masks_of(const data::TokenDataset& dataset) {
  std::vector<std::vector<std::uint8_t>> masks;
  if (!dataset.masked()) return masks;
  for (std::size_t d = 0; d < dataset.document_count(); ++d) masks.push_back(as_vector(dataset.trainable(d)));
  return masks;
}

// The token lists of a packed row, piece by piece.
inline std::vector<std::vector<std::int32_t>> row_tokens(const data::PackedRows& rows, std::size_t row) {
  std::vector<std::vector<std::int32_t>> pieces;
  for (const data::TokenRange& piece : rows.row(row)) pieces.push_back(as_vector(rows.tokens(piece)));
  return pieces;
}

inline std::vector<std::vector<std::uint8_t>> row_masks(const data::PackedRows& rows, std::size_t row) {
  std::vector<std::vector<std::uint8_t>> pieces;
  for (const data::TokenRange& piece : rows.row(row)) {
    if (!rows.trainable(piece).empty()) pieces.push_back(as_vector(rows.trainable(piece)));
  }
  return pieces;
}

}  // namespace fthost::test
