// Every fixture of tests/fixtures/tokenizer/ (written by tools/make_tokenizer_fixtures.py from
// Hugging Face `tokenizers`): fthost must give the same ids, with and without special tokens, and
// the same decoded strings, for every text, plus the same token_to_id, vocab size and bos/eos.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/tokenizer.hpp"

namespace {

using fthost::data::Tokenizer;
using Json = nlohmann::json;

const std::filesystem::path fixture_root = std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer";
const std::vector<std::string> fixture_names = {"gpt2",          "llama3",          "qwen2",      "llama2", "mistral",
                                                 "metaspace_unk", "split_behaviors", "bpe_affixes"};

Json read_json(const std::filesystem::path& file) {
  std::ifstream stream(file);
  REQUIRE_MESSAGE(stream, "cannot read " << file);
  return Json::parse(stream);
}

std::string show(const std::vector<std::int32_t>& ids) {
  std::ostringstream out;
  out << '[';
  for (std::size_t index = 0; index < ids.size(); ++index) out << (index ? ", " : "") << ids[index];
  out << ']';
  return out.str();
}

std::optional<std::int32_t> optional_id(const Json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::int32_t>();
}

Tokenizer load_fixture(const std::string& name) {
  auto tokenizer = Tokenizer::load(fixture_root / name);  // the folder, as users pass a model folder
  REQUIRE_MESSAGE(tokenizer.ok(), (tokenizer.ok() ? "" : tokenizer.error().message));
  return std::move(tokenizer).value();
}

void check_fixture(const std::string& name) {
  Tokenizer tokenizer = load_fixture(name);
  Json expected = read_json(fixture_root / name / "expected.json");

  CHECK(tokenizer.vocab_size() == expected["vocab_size"].get<std::int64_t>());
  CHECK(tokenizer.bos_id() == optional_id(expected["bos_id"]));
  CHECK(tokenizer.eos_id() == optional_id(expected["eos_id"]));
  for (const auto& [token, id] : expected["token_to_id"].items()) {
    CHECK_MESSAGE(tokenizer.token_to_id(token) == optional_id(id), name << ": token_to_id(\"" << token << "\")");
  }
  for (const auto& [id, token] : expected["id_to_token"].items()) {
    auto expected_token = token.is_null() ? std::nullopt : std::optional<std::string>(token.get<std::string>());
    CHECK_MESSAGE(tokenizer.id_to_token(std::stoi(id)) == expected_token, name << ": id_to_token(" << id << ")");
  }

  const Json& cases = expected["cases"];
  REQUIRE(cases.size() > 10);
  for (const Json& entry : cases) {
    auto text = entry["text"].get<std::string>();
    auto ids = entry["ids"].get<std::vector<std::int32_t>>();
    auto ids_no_special = entry["ids_no_special"].get<std::vector<std::int32_t>>();
    INFO(name << ": text " << Json(text).dump());

    auto encoded = tokenizer.encode(text, true);
    CHECK_MESSAGE(encoded == ids, "with special tokens: got " << show(encoded) << ", expected " << show(ids));
    auto encoded_plain = tokenizer.encode(text, false);
    CHECK_MESSAGE(encoded_plain == ids_no_special,
                  "without special tokens: got " << show(encoded_plain) << ", expected " << show(ids_no_special));
    // The fast merge loop and its word cache against the textbook loop.
    CHECK(tokenizer.encode_reference(text, true) == ids);

    CHECK(tokenizer.decode(ids, false) == entry["decoded"].get<std::string>());
    CHECK(tokenizer.decode(ids, true) == entry["decoded_skip_special"].get<std::string>());
  }
  for (const Json& entry : expected["decode_cases"]) {
    auto ids = entry["ids"].get<std::vector<std::int32_t>>();
    CHECK_MESSAGE(tokenizer.decode(ids, false) == entry["decoded"].get<std::string>(),
                  name << ": decode " << show(ids));
  }
}

}  // namespace

TEST_CASE("tokenizer fixtures: every folder is tested") {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(fixture_root)) {
    if (entry.is_directory()) on_disk.insert(entry.path().filename().string());
  }
  CHECK(on_disk == std::set<std::string>(fixture_names.begin(), fixture_names.end()));
}

TEST_CASE("tokenizer matches HF tokenizers: gpt2 (ByteLevel with GPT-2's regex, legacy merges)") {
  check_fixture("gpt2");
}
TEST_CASE("tokenizer matches HF tokenizers: llama3 (Split regex + ByteLevel, ignore_merges, BOS template)") {
  check_fixture("llama3");
}
TEST_CASE("tokenizer matches HF tokenizers: qwen2 (NFC, Split regex + ByteLevel, added words)") {
  check_fixture("qwen2");
}
TEST_CASE("tokenizer matches HF tokenizers: llama2 (Prepend/Replace normalizer, byte fallback)") {
  check_fixture("llama2");
}
TEST_CASE("tokenizer matches HF tokenizers: mistral (Metaspace prepend_scheme first, byte fallback)") {
  check_fixture("mistral");
}
TEST_CASE("tokenizer matches HF tokenizers: metaspace_unk (NFKC + Lowercase, Metaspace split, fused <unk>)") {
  check_fixture("metaspace_unk");
}

TEST_CASE("tokenizer matches HF tokenizers: split_behaviors (every Split behaviour, invert, add_prefix_space)") {
  check_fixture("split_behaviors");
}

TEST_CASE("tokenizer matches HF tokenizers: bpe_affixes (continuing_subword_prefix, end_of_word_suffix, no decoder)") {
  check_fixture("bpe_affixes");
}

TEST_CASE("tokenizer: bos/eos come from the template when there is no tokenizer_config.json") {
  std::ifstream stream(fixture_root / "metaspace_unk/tokenizer.json");
  std::stringstream text;
  text << stream.rdbuf();
  auto tokenizer = Tokenizer::parse(text.str(), "metaspace_unk/tokenizer.json");
  REQUIRE(tokenizer.ok());
  CHECK(tokenizer->bos_id() == tokenizer->token_to_id("<s>"));
  CHECK(tokenizer->eos_id() == tokenizer->token_to_id("</s>"));
}

TEST_CASE("tokenizer: encoding from several threads gives the single-thread ids") {
  Tokenizer tokenizer = load_fixture("llama3");
  Json expected = read_json(fixture_root / "llama3/expected.json");
  std::vector<std::string> texts;
  for (const Json& entry : expected["cases"]) texts.push_back(entry["text"].get<std::string>());
  std::vector<std::vector<std::int32_t>> single;
  for (const auto& text : texts) single.push_back(tokenizer.encode(text, true));

  Tokenizer fresh = load_fixture("llama3");  // an empty word cache, filled by all threads at once
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t thread = 0; thread < mismatches.size(); ++thread) {
    threads.emplace_back([&, thread] {
      for (int round = 0; round < 50; ++round) {
        for (std::size_t index = 0; index < texts.size(); ++index) {
          if (fresh.encode(texts[index], true) != single[index]) ++mismatches[thread];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(std::all_of(mismatches.begin(), mismatches.end(), [](int count) { return count == 0; }));
}
