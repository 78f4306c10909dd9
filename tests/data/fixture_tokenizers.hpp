#pragma once
// The fixture tokenizers of tests/fixtures/tokenizer/, loaded once per test program.

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/tokenizer.hpp"

namespace fthost::test {

inline std::filesystem::path data_fixture(const std::string& name) {
  return std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/data" / name;
}

inline const data::Tokenizer& fixture_tokenizer(const std::string& name) {
  static std::map<std::string, data::Tokenizer> loaded;  // a map: references stay valid as it grows
  if (auto found = loaded.find(name); found != loaded.end()) return found->second;
  auto tokenizer =
      data::Tokenizer::load(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer" / name);
  REQUIRE_MESSAGE(tokenizer.ok(), (tokenizer.ok() ? std::string() : tokenizer.error().message));
  return loaded.emplace(name, std::move(*tokenizer)).first->second;
}

// a + b + c ..., for building expected token sequences from pieces.
inline std::vector<std::int32_t> concat(std::initializer_list<std::vector<std::int32_t>> pieces) {
  std::vector<std::int32_t> all;
  for (const auto& piece : pieces) all.insert(all.end(), piece.begin(), piece.end());
  return all;
}

// A mask from runs of (count, value): {{3, 0}, {2, 1}} is 0 0 0 1 1.
inline std::vector<std::uint8_t> mask_runs(std::initializer_list<std::pair<std::size_t, std::uint8_t>> runs) {
  std::vector<std::uint8_t> mask;
  for (const auto& [count, value] : runs) mask.insert(mask.end(), count, value);
  return mask;
}

}  // namespace fthost::test
