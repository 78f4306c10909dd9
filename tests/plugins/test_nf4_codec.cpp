// The NF4 / FP4 codec against bitsandbytes' own quantize_4bit (tests/fixtures/bnb, made by
// tools/make_bnb_fixtures.py with bitsandbytes 0.50.2 on the CPU): the same packed bytes, the
// same absmax, the same dequantized values, for Gaussian and heavy-tailed inputs, blocksizes 64,
// 128 and 4096, and an odd element count.

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "model/safetensors.hpp"
#include "nf4_codec.hpp"

using fthost::plugins::FourBitType;

namespace {

template <typename T>
std::vector<T> values_of(const fthost::model::SafetensorsFile& file, const std::string& name) {
  const fthost::model::SafetensorsTensor* tensor = file.find(name);
  REQUIRE_MESSAGE(tensor != nullptr, "fixture tensor missing: " << name);
  std::vector<T> values(static_cast<std::size_t>(tensor->element_count()));
  REQUIRE(tensor->bytes.size() == values.size() * sizeof(T));
  std::memcpy(values.data(), tensor->bytes.data(), tensor->bytes.size());
  return values;
}

}  // namespace

TEST_CASE("quantize_4bit: bitsandbytes' golden vector") {
  const std::vector<float> x = {-1, 1, 0, 0.5f, -0.5f, 0.1f, -0.1f, 0.3f};
  auto quantized = fthost::plugins::quantize_4bit(x, 64, FourBitType::nf4);
  CHECK(quantized.codes == std::vector<std::uint8_t>{0x0F, 0x7C, 0x28, 0x6B});
  CHECK(quantized.absmax == std::vector<float>{1.0f});
  CHECK_THROWS_AS(fthost::plugins::quantize_4bit(x, 48, FourBitType::nf4), std::invalid_argument);
  CHECK_THROWS_AS(fthost::plugins::quantize_4bit(x, 8192, FourBitType::nf4), std::invalid_argument);
}

TEST_CASE("quantize_4bit: the bytes, absmax and dequantized values bitsandbytes gives") {
  auto file = fthost::model::SafetensorsFile::open(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) /
                                                    "tests/fixtures/bnb/quantize_4bit.safetensors");
  REQUIRE(file.ok());
  for (const char* input : {"gaussian", "heavy"}) {
    const std::vector<float> values = values_of<float>(*file, std::string(input) + ".input");
    for (auto [type, type_name] : {std::pair{FourBitType::nf4, "nf4"}, std::pair{FourBitType::fp4, "fp4"}}) {
      for (std::int64_t blocksize : {64, 128, 4096}) {
        const std::string key = std::string(input) + "." + type_name + "." + std::to_string(blocksize);
        CAPTURE(key);
        auto quantized = fthost::plugins::quantize_4bit(values, blocksize, type);
        CHECK(quantized.codes == values_of<std::uint8_t>(*file, key + ".codes"));
        CHECK(quantized.absmax == values_of<float>(*file, key + ".absmax"));
        const auto count = static_cast<std::int64_t>(values.size());
        CHECK(fthost::plugins::dequantize_4bit(quantized, count, blocksize, type) ==
              values_of<float>(*file, key + ".dequantized"));
      }
    }
  }
}

TEST_CASE("double quantization: the absmax codes, offset, nested absmax and dequantized values bitsandbytes gives") {
  auto file = fthost::model::SafetensorsFile::open(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) /
                                                    "tests/fixtures/bnb/quantize_4bit.safetensors");
  REQUIRE(file.ok());
  const std::vector<float> recorded_map = values_of<float>(*file, "double.dynamic_map");
  CHECK(std::vector<float>(fthost::plugins::dynamic_map().begin(), fthost::plugins::dynamic_map().end()) ==
        recorded_map);

  const std::vector<float> values = values_of<float>(*file, "double.input");
  auto first_level = fthost::plugins::quantize_4bit(values, 64, FourBitType::nf4);
  CHECK(first_level.codes == values_of<std::uint8_t>(*file, "double.codes"));  // codes use the exact absmax
  CHECK(first_level.absmax == values_of<float>(*file, "double.absmax"));

  auto second_level = fthost::plugins::quantize_absmax(first_level.absmax);
  CHECK(second_level.offset == values_of<float>(*file, "double.offset")[0]);
  CHECK(second_level.nested_absmax == values_of<float>(*file, "double.nested_absmax"));
  CHECK(second_level.nested_absmax.size() == 3);
  // fthost picks the nearest map value; bitsandbytes' native CPU kernel resolves values within a
  // hair of a midpoint its own way (here 1 of 516: 6.7e-6 from the midpoint, 0.24% of the gap).
  // Every difference must be such a near-tie, one code apart.
  const std::vector<std::uint8_t> expected_codes = values_of<std::uint8_t>(*file, "double.absmax_codes");
  REQUIRE(second_level.codes.size() == expected_codes.size());
  const auto& map = fthost::plugins::dynamic_map();
  std::vector<bool> same_scale(expected_codes.size(), true);
  int differences = 0;
  for (std::size_t i = 0; i < expected_codes.size(); ++i) {
    if (second_level.codes[i] == expected_codes[i]) continue;
    ++differences;
    same_scale[i] = false;
    CAPTURE(i);
    const int ours = second_level.codes[i];
    const int theirs = expected_codes[i];
    REQUIRE(std::abs(ours - theirs) == 1);
    const float midpoint = (map[static_cast<std::size_t>(std::min(ours, theirs))] +
                            map[static_cast<std::size_t>(std::max(ours, theirs))]) / 2.0f;
    const float scaled = (first_level.absmax[i] - second_level.offset) / second_level.nested_absmax[i / 256];
    CHECK(std::abs(scaled - midpoint) < 0.01f * std::abs(map[static_cast<std::size_t>(ours)] -
                                                         map[static_cast<std::size_t>(theirs)]));
  }
  CHECK(differences <= 2);

  // Dequantization scales each block by the double-quantized absmax: identical wherever the
  // block's absmax code is.
  fthost::plugins::FourBitQuantized scaled{first_level.codes, fthost::plugins::dequantize_absmax(second_level)};
  const std::vector<float> ours =
      fthost::plugins::dequantize_4bit(scaled, static_cast<std::int64_t>(values.size()), 64, FourBitType::nf4);
  const std::vector<float> theirs = values_of<float>(*file, "double.dequantized");
  REQUIRE(ours.size() == theirs.size());
  std::size_t compared = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (!same_scale[i / 64]) continue;
    ++compared;
    if (ours[i] != theirs[i]) {
      CAPTURE(i);
      CHECK(ours[i] == theirs[i]);
    }
  }
  CHECK(compared > ours.size() * 99 / 100);
}
