// Loss masks through packing and batches: the target of position t is ignored when token t+1 is
// not trainable, and pack_rows cuts masks with their documents.

#include <algorithm>

#include <doctest/doctest.h>

#include "data/token_dataset.hpp"
#include "model/batch.hpp"

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
  fthost::data::TokenDataset dataset;
  dataset.documents = {{1, 2, 3, 4, 5, 6}, {7, 8}};
  dataset.trainable = {{0, 0, 1, 1, 0, 1}, {0, 1}};
  auto rows = fthost::data::pack_rows(dataset, 4, true);
  // [1 2 3 4] alone; [5 6] and [7 8] share the second row.
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].documents == std::vector<std::vector<std::int32_t>>{{1, 2, 3, 4}});
  CHECK(rows[0].trainable == std::vector<std::vector<std::uint8_t>>{{0, 0, 1, 1}});
  CHECK(rows[1].documents == std::vector<std::vector<std::int32_t>>{{5, 6}, {7, 8}});
  CHECK(rows[1].trainable == std::vector<std::vector<std::uint8_t>>{{0, 1}, {0, 1}});

  fthost::data::BatchStream stream(rows, 4, 2, 1, /*shuffle=*/false);
  auto batch = stream.next();
  CHECK(batch.targets == std::vector<std::int32_t>{-100, 3, 4, -100, 6, -100, 8, -100});

  dataset.trainable.clear();  // no masks: rows carry none
  auto unmasked = fthost::data::pack_rows(dataset, 4, true);
  CHECK(unmasked[1].trainable.empty());
}

TEST_CASE("hold_out_documents: a seeded fraction moves to evaluation, masks go with their documents") {
  fthost::data::TokenDataset dataset;
  for (std::int32_t i = 0; i < 20; ++i) {
    dataset.documents.push_back({i, i, i});
    dataset.trainable.push_back({1, 0, static_cast<std::uint8_t>(i % 2)});
    dataset.token_count += 3;
  }
  fthost::data::TokenDataset copy = dataset;
  auto eval = fthost::data::hold_out_documents(dataset, 0.1, 7);
  REQUIRE(eval.ok());
  CHECK(eval->documents.size() == 2);
  CHECK(dataset.documents.size() == 18);
  CHECK(eval->token_count == 6);
  CHECK(dataset.token_count == 54);
  std::vector<std::int32_t> seen;
  for (const auto* part : {&dataset, &*eval}) {
    REQUIRE(part->trainable.size() == part->documents.size());
    for (std::size_t i = 0; i < part->documents.size(); ++i) {
      const std::int32_t id = part->documents[i][0];
      seen.push_back(id);
      CHECK(part->trainable[i][2] == id % 2);  // the mask travelled with its document
    }
  }
  std::sort(seen.begin(), seen.end());
  for (std::int32_t i = 0; i < 20; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
  // the same seed holds out the same documents; another seed (almost surely) others
  auto again = fthost::data::hold_out_documents(copy, 0.1, 7);
  REQUIRE(again.ok());
  CHECK(again->documents == eval->documents);
  fthost::data::TokenDataset one;
  one.documents.push_back({1, 2});
  CHECK_FALSE(fthost::data::hold_out_documents(one, 0.5, 1).ok());
}
