#include <algorithm>
#include <fstream>
#include <unistd.h>

#include <doctest/doctest.h>

#include "data/token_dataset.hpp"

namespace {

std::filesystem::path write_temporary(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / ("fthost-data-" + std::to_string(getpid()) + "-" + name);
  std::ofstream(path) << content;
  return path;
}

}  // namespace

TEST_CASE("token JSONL loads documents and names the line of a bad record") {
  auto good = write_temporary("good.jsonl", "{\"input_ids\": [1, 2, 3]}\n\n{\"input_ids\": [4, 5]}\n{\"input_ids\": [6]}\n");
  auto dataset = fthost::data::load_token_jsonl(good, 10);
  REQUIRE(dataset.ok());
  CHECK(dataset->document_count() == 2);  // the one-token line predicts nothing and is skipped
  CHECK(dataset->token_count() == 5);

  auto bad = write_temporary("bad.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [1, 2\n");
  auto refused = fthost::data::load_token_jsonl(bad, 10);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == bad.string() + ":2: not a JSON object (expected {\"input_ids\": [...]})");

  auto out_of_vocab = write_temporary("vocab.jsonl", "{\"input_ids\": [1, 12]}\n");
  auto refused_id = fthost::data::load_token_jsonl(out_of_vocab, 10);
  REQUIRE_FALSE(refused_id.ok());
  CHECK(refused_id.error().message == out_of_vocab.string() + ":1: token id 12 is outside the vocabulary [0, 10)");

  auto empty = write_temporary("empty.jsonl", "\n{\"input_ids\": [3]}\n");
  auto refused_empty = fthost::data::load_token_jsonl(empty, 10);
  REQUIRE_FALSE(refused_empty.ok());
  CHECK(refused_empty.error().message.ends_with(": no usable documents (each line needs at least 2 token ids)"));
  for (const auto& path : {good, bad, out_of_vocab, empty}) std::filesystem::remove(path);
}

TEST_CASE("packing fills rows first-fit and splits long documents") {
  auto dataset = fthost::data::TokenDataset::from_documents(
      {{1, 2, 3, 4, 5, 6}, {7, 8, 9}, {10, 11}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21}});
  auto rows = fthost::data::pack_rows(dataset, 8, true);
  // [6] ; [3,2] fit in row 2 (5) ; [8] and [2] of the long one: 8 alone, 2 joins row 1.
  REQUIRE(rows.size() == 3);
  CHECK(rows.row(0).size() == 2);  // 6 + 2 (the long document's tail)
  CHECK(rows.row(1).size() == 2);  // 3 + 2
  CHECK(rows.row(2).size() == 1);  // the long document's first 8
  auto unpacked = fthost::data::pack_rows(dataset, 8, false);
  CHECK(unpacked.size() == 5);
}

TEST_CASE("packed rows: targets and attention spans stop at document boundaries") {
  fthost::model::HostBatch batch;
  batch.seq_len = 6;
  std::vector<std::vector<std::int32_t>> documents = {{5, 6, 7}, {8, 9}};
  batch.add_row(documents);
  CHECK(batch.targets == std::vector<std::int32_t>{6, 7, -100, 9, -100, -100});
  CHECK(batch.positions == std::vector<std::int32_t>{0, 1, 2, 0, 1, 0});
  CHECK(batch.doc_start == std::vector<std::int32_t>{0, 0, 0, 3, 3, 5});
  CHECK(batch.target_count() == 3);
}

TEST_CASE("epoch order is a seeded permutation that changes per epoch") {
  auto first = fthost::data::epoch_order(50, 7, 0, true);
  auto again = fthost::data::epoch_order(50, 7, 0, true);
  auto next_epoch = fthost::data::epoch_order(50, 7, 1, true);
  CHECK(first == again);
  CHECK(first != next_epoch);
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == i);
}
