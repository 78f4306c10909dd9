// A tokenizer.json that is broken, or asks for something fthost does not implement, is refused with
// one line naming the file and the JSON path; text that is not UTF-8 is encoded, not refused.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "data/tokenizer.hpp"

namespace {

using fthost::data::Tokenizer;
using fthost::sdk::ErrorCategory;

// A minimal valid BPE tokenizer.json, with one section replaced.
std::string tokenizer_json(const std::string& model_type = "BPE", const std::string& pre_tokenizer = "null",
                           const std::string& merges = R"(["a b"])") {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": )" + pre_tokenizer +
         R"(, "post_processor": null, "decoder": null, "model": {"type": ")" + model_type +
         R"(", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": )" + merges + "}}";
}

// Writes text to a fresh folder's tokenizer.json and loads it.
fthost::sdk::Result<Tokenizer> load_text(const std::string& text, std::filesystem::path& file) {
  auto folder = std::filesystem::temp_directory_path() / ("fthost_tokenizer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  file = folder / "tokenizer.json";
  std::ofstream(file) << text;
  return Tokenizer::load(file);
}

}  // namespace

TEST_CASE("tokenizer: the minimal file loads and merges") {
  std::filesystem::path file;
  auto tokenizer = load_text(tokenizer_json(), file);
  REQUIRE_MESSAGE(tokenizer.ok(), (tokenizer.ok() ? "" : tokenizer.error().message));
  CHECK(tokenizer->encode("abba", false) == std::vector<std::int32_t>{2, 1, 0});
  CHECK(tokenizer->decode(std::vector<std::int32_t>{2, 1, 0}, false) == "ab b a");  // no decoder: joined by spaces
}

TEST_CASE("tokenizer: a missing file names the file") {
  auto tokenizer = Tokenizer::load("/nonexistent/tokenizer.json");
  REQUIRE_FALSE(tokenizer.ok());
  CHECK(tokenizer.error().message == "/nonexistent/tokenizer.json: cannot read");
}

TEST_CASE("tokenizer: malformed JSON names the file") {
  std::filesystem::path file;
  auto tokenizer = load_text(R"({"model": {"type": "BPE", "vocab": {)", file);
  REQUIRE_FALSE(tokenizer.ok());
  CHECK(tokenizer.error().category == ErrorCategory::invalid_input);
  CHECK(tokenizer.error().message.rfind(file.string() + ": not valid JSON", 0) == 0);
  CHECK(tokenizer.error().message.find('\n') == std::string::npos);
}

TEST_CASE("tokenizer: unsupported model types are refused with the JSON path") {
  for (const std::string type : {"WordPiece", "Unigram", "WordLevel"}) {
    std::filesystem::path file;
    auto tokenizer = load_text(tokenizer_json(type), file);
    REQUIRE_FALSE(tokenizer.ok());
    CHECK(tokenizer.error().category == ErrorCategory::not_implemented);
    CHECK(tokenizer.error().message ==
          file.string() + ": model.type: \"" + type + "\" is not supported (fthost implements BPE)");
  }
}

TEST_CASE("tokenizer: an unsupported component inside a Sequence is named by its path") {
  std::filesystem::path file;
  auto tokenizer = load_text(
      tokenizer_json("BPE", R"({"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]})"),
      file);
  REQUIRE_FALSE(tokenizer.ok());
  CHECK(tokenizer.error().category == ErrorCategory::not_implemented);
  CHECK(tokenizer.error().message.rfind(
            file.string() + ": pre_tokenizer.pretokenizers[1].type: pre-tokenizer \"Digits\"", 0) == 0);
}

TEST_CASE("tokenizer: broken sections are invalid input, with the JSON path") {
  struct Case {
    std::string text;
    std::string expected;  // the message after "<file>: "
  };
  const std::vector<Case> cases = {
      {tokenizer_json("BPE", "null", R"(["a c"])"), "model.merges[0]: token \"c\" is not in the vocabulary"},
      {tokenizer_json("BPE", "null", R"(["a b c"])"),
       "model.merges[0]: expected \"left right\" (two tokens and one space), got \"a b c\""},
      {tokenizer_json("BPE", R"({"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"})"), ""},
      {R"({"model": {"type": "BPE", "merges": []}})", "model.vocab: missing"},
      {R"([1, 2])", "(top level): expected an object"},
  };
  for (const Case& entry : cases) {
    std::filesystem::path file;
    auto tokenizer = load_text(entry.text, file);
    REQUIRE_FALSE(tokenizer.ok());
    CHECK(tokenizer.error().category == ErrorCategory::invalid_input);
    if (entry.expected.empty()) {
      CHECK(tokenizer.error().message.rfind(file.string() + ": pre_tokenizer.pattern: does not compile: ", 0) == 0);
    } else {
      CHECK(tokenizer.error().message == file.string() + ": " + entry.expected);
    }
  }
}

TEST_CASE("tokenizer: invalid UTF-8 given to encode() reads as U+FFFD") {
  auto tokenizer = Tokenizer::load(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer/llama3");
  REQUIRE(tokenizer.ok());
  CHECK(tokenizer->encode("caf\xC3 ok \xFF", true) == tokenizer->encode("caf\xEF\xBF\xBD ok \xEF\xBF\xBD", true));
  CHECK_FALSE(tokenizer->encode("caf\xC3", false).empty());
}
