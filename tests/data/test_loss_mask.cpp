// Loss masks through packing and batches: the target of position t is ignored when token t+1 is
// not trainable, and pack_rows cuts masks with their documents.

#include <algorithm>

#include <doctest/doctest.h>

#include "data/token_dataset.hpp"
#include "dataset_contents.hpp"
#include "model/batch.hpp"

using fthost::test::documents_of;
using fthost::test::row_masks;
using fthost::test::row_tokens;

TEST_CASE("HostBatch targets honour the loss mask") {
  fthost::model::HostBatch batch;
  batch.seq_len = 8;
  std::vector<std::vector<std::int32_t>> documents = {{5, 6, 7, 8}, {9, 10, 11}};
  std::vector<std::vector<std::uint8_t>> trainable = {{0, 0, 1, 1}, {1, 0, 1}};
  batch.add_row(documents, trainable);
  // 5->6 untrained, 6->7, 7->8 trained, end; 9->10 untrained, 10->11 trained, end; padding.
  CHECK(batch.targets == std::vector<std::int32_t>{-100, 7, 8, -100, -100, 11, -100, -100});
  CHECK(batch.positions == std::vector<std::int32_t>{0, 1, 2, 3, 0, 1, 2, 0});
  CHECK(batch.target_count() == 3);

  // No masks: every next token is a target, as before.
  fthost::model::HostBatch unmasked;
  unmasked.seq_len = 8;
  unmasked.add_row(documents);
  CHECK(unmasked.targets == std::vector<std::int32_t>{6, 7, 8, -100, 10, 11, -100, -100});

  fthost::model::HostBatch mismatched;
  mismatched.seq_len = 8;
  std::vector<std::vector<std::uint8_t>> short_mask = {{0, 1, 1}, {1, 1, 1}};
  CHECK_THROWS_WITH(mismatched.add_row(documents, short_mask), "loss mask of 3 entries for a document of 4 tokens");
}

TEST_CASE("pack_rows cuts masks with their documents and batches keep them") {
  auto dataset = fthost::data::TokenDataset::from_documents({{1, 2, 3, 4, 5, 6}, {7, 8}}, {{0, 0, 1, 1, 0, 1}, {0, 1}});
  auto rows = fthost::data::pack_rows(dataset, 4, true);
  // [1 2 3 4] alone; [5 6] and [7 8] share the second row.
  REQUIRE(rows.size() == 2);
  CHECK(row_tokens(rows, 0) == std::vector<std::vector<std::int32_t>>{{1, 2, 3, 4}});
  CHECK(row_masks(rows, 0) == std::vector<std::vector<std::uint8_t>>{{0, 0, 1, 1}});
  CHECK(row_tokens(rows, 1) == std::vector<std::vector<std::int32_t>>{{5, 6}, {7, 8}});
  CHECK(row_masks(rows, 1) == std::vector<std::vector<std::uint8_t>>{{0, 1}, {0, 1}});

  fthost::data::BatchStream stream(rows, 4, 2, 1, /*shuffle=*/false);
  auto batch = stream.next();
  CHECK(batch.targets == std::vector<std::int32_t>{-100, 3, 4, -100, 6, -100, 8, -100});

  // no masks: rows carry none
  auto unmasked = fthost::data::pack_rows(fthost::data::TokenDataset::from_documents(documents_of(dataset)), 4, true);
  CHECK(row_masks(unmasked, 1).empty());
}

TEST_CASE("hold_out_documents: a seeded fraction moves to evaluation, masks go with their documents") {
  std::vector<std::vector<std::int32_t>> documents;
  std::vector<std::vector<std::uint8_t>> masks;
  for (std::int32_t i = 0; i < 20; ++i) {
    documents.push_back({i, i, i});
    masks.push_back({1, 0, static_cast<std::uint8_t>(i % 2)});
  }
  auto dataset = fthost::data::TokenDataset::from_documents(documents, masks);
  fthost::data::TokenDataset copy = dataset;
  auto eval = fthost::data::hold_out_documents(dataset, 0.1, 7);
  REQUIRE(eval.ok());
  CHECK(eval->document_count() == 2);
  CHECK(dataset.document_count() == 18);
  CHECK(eval->token_count() == 6);
  CHECK(dataset.token_count() == 54);
  std::vector<std::int32_t> seen;
  for (const auto* part : {&dataset, &*eval}) {
    REQUIRE(part->masked());
    for (std::size_t i = 0; i < part->document_count(); ++i) {
      const std::int32_t id = part->document(i)[0];
      seen.push_back(id);
      CHECK(part->trainable(i)[2] == id % 2);  // the mask travelled with its document
    }
  }
  std::sort(seen.begin(), seen.end());
  for (std::int32_t i = 0; i < 20; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
  // The training part keeps its order.
  const auto training = documents_of(dataset);
  CHECK(std::is_sorted(training.begin(), training.end()));
  // the same seed holds out the same documents; another seed (almost surely) others
  auto again = fthost::data::hold_out_documents(copy, 0.1, 7);
  REQUIRE(again.ok());
  CHECK(documents_of(*again) == documents_of(*eval));
  // Selections of selections: holding out from the training part picks from its documents.
  auto nested = fthost::data::hold_out_documents(dataset, 0.5, 3);
  REQUIRE(nested.ok());
  CHECK(nested->document_count() + dataset.document_count() == 18);
  auto one = fthost::data::TokenDataset::from_documents({{1, 2}});
  CHECK_FALSE(fthost::data::hold_out_documents(one, 0.5, 1).ok());
}
