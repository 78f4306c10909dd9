// The tokenized cache: a second load of the same text reads the cache and gets the same
// documents; a damaged cache file or a changed data file is tokenized again.

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <doctest/doctest.h>

#include "../data/dataset_contents.hpp"
#include "data/token_cache.hpp"
#include "train/training_run.hpp"

namespace fs = std::filesystem;
using fthost::test::documents_of;

TEST_CASE("tokenized cache: hit on the second load, miss after damage or a change of the data") {
  const fs::path source(FTHOST_TEST_SOURCE_DIR);
  const fs::path scratch = fs::temp_directory_path() / ("fthost-token-cache-" + std::to_string(::getpid()));
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const fs::path data = scratch / "eval.txt";
  fs::copy_file(source / "data/quickstart/eval.txt", data);
  const fs::path model = source / "models/tiny-llama";
  std::string note;
  fthost::train::TokenCacheUse cache{true, scratch / "cache", &note};
  auto load = [&] { return fthost::train::load_documents(data, "auto", model, 1024, {}, cache); };

  auto first = load();
  REQUIRE(first.ok());
  CHECK(note.starts_with("tokenized and cached in "));
  auto second = load();
  REQUIRE(second.ok());
  CHECK(note.starts_with("read from the tokenized cache "));
  CHECK(documents_of(*second) == documents_of(*first));
  CHECK(second->token_count() == first->token_count());
  REQUIRE(std::distance(fs::directory_iterator(scratch / "cache"), fs::directory_iterator()) == 1);

  // A truncated cache file is not trusted: tokenized again (and rewritten).
  const fs::path cache_file = fs::directory_iterator(scratch / "cache")->path();
  fs::resize_file(cache_file, fs::file_size(cache_file) - 3);
  CHECK_FALSE(fthost::data::read_token_cache(cache_file).has_value());
  auto third = load();
  REQUIRE(third.ok());
  CHECK(note.starts_with("tokenized and cached in "));
  CHECK(documents_of(*third) == documents_of(*first));

  // Other data: another key, another file.
  std::ofstream(data, std::ios::app) << "\nOne more document about the bakery.\n";
  auto fourth = load();
  REQUIRE(fourth.ok());
  CHECK(note.starts_with("tokenized and cached in "));
  CHECK(fourth->document_count() == first->document_count() + 1);
  CHECK(std::distance(fs::directory_iterator(scratch / "cache"), fs::directory_iterator()) == 2);

  // Switched off: nothing read or written.
  note.clear();
  cache.enabled = false;
  REQUIRE(load().ok());
  CHECK(note.empty());
  fs::remove_all(scratch);
}
