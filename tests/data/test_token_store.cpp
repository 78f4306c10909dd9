// Token stores: a file-backed store serves exactly the batches of the in-memory one, a damaged file
// is refused, temporary stores leave nothing behind, and a large store is paged in from its file
// rather than held on the heap (data larger than memory).

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "data/text_dataset.hpp"
#include "data/token_store.hpp"
#include "dataset_contents.hpp"
#include "fixture_tokenizers.hpp"

namespace fs = std::filesystem;

namespace {

using fthost::test::documents_of;
using fthost::test::masks_of;

fs::path scratch_folder(const std::string& name) {
  const fs::path folder = fs::temp_directory_path() / ("fthost-token-store-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder;
}

std::size_t entries(const fs::path& folder) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

// Every batch of two epochs (shuffled), field by field.
void check_same_batches(const fthost::data::TokenDataset& left, const fthost::data::TokenDataset& right,
                        std::int64_t seq_len) {
  for (bool packing : {true, false}) {
    fthost::data::BatchStream first(fthost::data::pack_rows(left, seq_len, packing), seq_len, 2, 5, true);
    fthost::data::BatchStream second(fthost::data::pack_rows(right, seq_len, packing), seq_len, 2, 5, true);
    REQUIRE(first.rows_per_epoch() == second.rows_per_epoch());
    for (std::int64_t i = 0; i < 2 * first.micro_batches_per_epoch(); ++i) {
      const fthost::model::HostBatch a = first.next();
      const fthost::model::HostBatch b = second.next();
      CHECK(a.input_ids == b.input_ids);
      CHECK(a.targets == b.targets);
      CHECK(a.positions == b.positions);
      CHECK(a.doc_start == b.doc_start);
    }
  }
}

// Bytes in use on the heap (glibc's allocator; ASan's reports nothing, and the check is vacuous).
std::size_t heap_in_use() { return mallinfo2().uordblks; }

}  // namespace

TEST_CASE("token store: a file-backed dataset serves the same batches as the in-memory one") {
  const fs::path folder = scratch_folder("fixtures");
  const auto& qwen2 = fthost::test::fixture_tokenizer("qwen2");
  const auto& llama3 = fthost::test::fixture_tokenizer("llama3");
  struct Case {
    const char* file;
    const fthost::data::Tokenizer* tokenizer;
  };
  for (const Case& fixture : {Case{"documents.txt", &llama3}, Case{"text.jsonl", &qwen2}, Case{"alpaca.jsonl", &llama3},
                              Case{"prompt_completion.jsonl", &llama3}, Case{"chat.jsonl", &qwen2}}) {
    CAPTURE(fixture.file);
    const fs::path data = fthost::test::data_fixture(fixture.file);
    auto in_memory = fthost::data::load_text_dataset(data, "auto", *fixture.tokenizer);
    REQUIRE(in_memory.ok());
    auto writer = fthost::data::TokenStoreWriter::to_file(folder / (std::string(fixture.file) + ".tokens"));
    REQUIRE(writer.ok());
    auto in_file = fthost::data::load_text_dataset(data, "auto", *fixture.tokenizer, {}, std::move(*writer));
    REQUIRE(in_file.ok());
    CHECK(documents_of(*in_file) == documents_of(*in_memory));
    CHECK(masks_of(*in_file) == masks_of(*in_memory));
    CHECK(in_file->token_count() == in_memory->token_count());
    check_same_batches(*in_memory, *in_file, 24);

    // Read back as the cache reads it: the same documents again.
    auto reopened = fthost::data::TokenStore::open_file(folder / (std::string(fixture.file) + ".tokens"));
    REQUIRE(reopened.has_value());
    fthost::data::TokenDataset from_cache(std::make_shared<const fthost::data::TokenStore>(std::move(*reopened)));
    CHECK(documents_of(from_cache) == documents_of(*in_memory));
    check_same_batches(*in_memory, from_cache, 16);
  }
  CHECK(entries(folder) == 5);  // the stores, no temp or side files
  fs::remove_all(folder);
}

TEST_CASE("token store: damaged files are refused; temporary and abandoned stores leave nothing") {
  const fs::path folder = scratch_folder("files");
  const fs::path file = folder / "store.tokens";
  {
    auto writer = fthost::data::TokenStoreWriter::to_file(file);
    REQUIRE(writer.ok());
    const std::vector<std::int32_t> tokens = {1, 2, 3};
    const std::vector<std::uint8_t> mask = {0, 1, 1};
    REQUIRE(writer->add(tokens, mask).ok());
    REQUIRE(writer->finish(2).ok());
  }
  auto store = fthost::data::TokenStore::open_file(file);
  REQUIRE(store.has_value());
  CHECK(store->skipped_lines() == 2);
  CHECK(store->masked());
  const auto size = fs::file_size(file);
  fs::resize_file(file, size - 1);
  CHECK_FALSE(fthost::data::TokenStore::open_file(file).has_value());
  fs::resize_file(file, size);
  std::fstream(file, std::ios::in | std::ios::out | std::ios::binary).write("FTHTOK01", 8);  // an older version
  CHECK_FALSE(fthost::data::TokenStore::open_file(file).has_value());
  fs::remove(file);

  {
    auto abandoned = fthost::data::TokenStoreWriter::to_file(file);
    REQUIRE(abandoned.ok());
    const std::vector<std::int32_t> tokens = {4, 5};
    REQUIRE(abandoned->add(tokens).ok());
  }  // never finished: its temp file goes
  CHECK(entries(folder) == 0);

  auto temporary = fthost::data::TokenStoreWriter::to_temporary_file(folder);
  REQUIRE(temporary.ok());
  const std::vector<std::int32_t> tokens = {6, 7, 8};
  REQUIRE(temporary->add(tokens).ok());
  auto mapped = temporary->finish(0);
  REQUIRE(mapped.ok());
  CHECK(entries(folder) == 0);  // unlinked once mapped; the pages stay until the store goes
  fthost::data::TokenDataset dataset(*mapped);
  CHECK(documents_of(dataset) == std::vector<std::vector<std::int32_t>>{{6, 7, 8}});
  fs::remove_all(folder);
}

TEST_CASE("token store: 50 MB of tokens are written, packed and served with little heap") {
  const fs::path folder = scratch_folder("large");
  constexpr std::uint64_t wanted_tokens = 12'500'000;  // 50 MB of int32
  constexpr std::int64_t seq_len = 512;
  auto token_at = [](std::uint64_t document, std::uint64_t position) {
    return static_cast<std::int32_t>((document * 7919 + position * 31) % 32000);
  };

  const std::size_t heap_before = heap_in_use();
  std::size_t heap_peak = heap_before;
  auto sample = [&] { heap_peak = std::max(heap_peak, heap_in_use()); };
  std::shared_ptr<const fthost::data::TokenStore> store;
  {
    auto writer = fthost::data::TokenStoreWriter::to_temporary_file(folder);
    REQUIRE(writer.ok());
    std::vector<std::int32_t> document;
    std::vector<std::uint8_t> mask;
    std::uint64_t written = 0;
    std::uint64_t state = 1;
    for (std::uint64_t d = 0; written < wanted_tokens; ++d) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::uint64_t length = 2 + (state >> 33) % 1500;  // pieces of 2..1501 tokens, some split
      document.resize(length);
      mask.resize(length);
      for (std::uint64_t t = 0; t < length; ++t) {
        document[t] = token_at(d, t);
        mask[t] = static_cast<std::uint8_t>(t % 3 != 0);
      }
      REQUIRE(writer->add(document, mask).ok());
      written += length;
      if (d % 64 == 0) sample();
    }
    auto finished = writer->finish(0);
    REQUIRE(finished.ok());
    store = std::move(*finished);
  }
  sample();
  const std::size_t heap_written = heap_peak - heap_before;
  heap_peak = heap_in_use();

  fthost::data::TokenDataset dataset(store);
  auto held_out = fthost::data::hold_out_documents(dataset, 0.01, 3);
  REQUIRE(held_out.ok());
  fthost::data::BatchStream stream(fthost::data::pack_rows(dataset, seq_len, true), seq_len, 8, 1, true);
  sample();
  const std::size_t heap_packed = heap_in_use() - heap_before;
  std::uint64_t served = 0;
  for (std::int64_t i = 0; i < stream.micro_batches_per_epoch(); ++i) {
    const fthost::model::HostBatch batch = stream.next();
    for (std::size_t t = 0; t < batch.input_ids.size(); ++t) {
      if (batch.targets[t] != fthost::model::ignored_target) ++served;
    }
    if (i % 16 == 0) sample();
  }
  sample();
  const std::uint64_t data_bytes = store->token_count() * 5 + store->document_count() * 8;
  MESSAGE("store of " << data_bytes << " bytes (" << store->token_count() << " tokens, " << store->document_count()
                      << " documents): heap peak while writing +" << heap_written << " bytes, after packing "
                      << stream.rows_per_epoch() << " rows +" << heap_packed << ", peak while serving +"
                      << (heap_peak - heap_before));
  CHECK(store->token_count() >= wanted_tokens);
  CHECK(served > store->token_count() / 2);
  // The tokens came back from the file as written.
  CHECK(dataset.document(0)[5] == token_at(dataset.store_document(0), 5));
  CHECK(held_out->document(0)[1] == token_at(held_out->store_document(0), 1));
  // Writer buffers (a few MiB), the rows' piece lists (16 bytes a piece) and one micro-batch: far
  // below the data, which the in-memory path held whole.
  CHECK(heap_written < data_bytes / 8);
  CHECK(heap_packed < data_bytes / 16);
  CHECK(heap_peak - heap_before < data_bytes / 16);
  CHECK(entries(folder) == 0);
  fs::remove_all(folder);
}
