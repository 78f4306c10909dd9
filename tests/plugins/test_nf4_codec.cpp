// The NF4 / FP4 codec against bitsandbytes' own quantize_4bit (tests/fixtures/bnb, made by
// tools/make_bnb_fixtures.py with bitsandbytes 0.50.2 on the CPU): the same packed bytes, the
// same absmax, the same dequantized values, for Gaussian and heavy-tailed inputs, blocksizes 64,
// 128 and 4096, and an odd element count.

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
