// Broken and hostile safetensors files: each is refused with one line naming the file and, where
// one is at fault, the tensor; none crashes or allocates what its header claims.

#include <doctest/doctest.h>

#include <string>

#include "model/safetensors.hpp"
#include "model_test_support.hpp"

namespace fthost::model {
namespace {

using namespace std::string_literals;
using testing::safetensors_file_bytes;
using testing::TemporaryFolder;

// A valid one-tensor file: "w", F32 [2], 8 data bytes; hostile variants below change one thing.
const std::string valid_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string eight_data_bytes(8, '\x01');

// Opens `bytes` as a file, requires a refusal and returns its message, after checking what every
// refusal must satisfy: invalid_input, one line, starting with the file's path.
std::string refusal_for(const std::string& bytes) {
  TemporaryFolder folder;
  const std::filesystem::path path = folder / "hostile.safetensors";
  testing::write_file(path, bytes);
  sdk::Result<SafetensorsFile> file = SafetensorsFile::open(path);
  REQUIRE_FALSE(file.ok());
  const std::string& message = file.error().message;
  INFO("message: ", message);
  CHECK(file.error().category == sdk::ErrorCategory::invalid_input);
  CHECK(message.starts_with(path.string() + ": "));
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.size() < 1000);
  return message;
}

std::string refusal_for_header(const std::string& header_json, const std::string& data = eight_data_bytes) {
  return refusal_for(safetensors_file_bytes(header_json, data));
}

void check_mentions(const std::string& message, std::initializer_list<std::string_view> fragments) {
  for (std::string_view fragment : fragments) {
    INFO("message: ", message);
    INFO("expected fragment: ", fragment);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

TEST_CASE("the hostile-file fixture itself is valid") {
  TemporaryFolder folder;
  testing::write_file(folder / "valid.safetensors", safetensors_file_bytes("{" + valid_entry + "}", eight_data_bytes));
  sdk::Result<SafetensorsFile> file = SafetensorsFile::open(folder / "valid.safetensors");
  REQUIRE_MESSAGE(file.ok(), file.error().message);
  CHECK(file->tensors().size() == 1);
}

TEST_CASE("files too short for their header are refused") {
  check_mentions(refusal_for(""), {"file is 0 bytes, too short"});
  check_mentions(refusal_for("\x08\x00\x00"s), {"file is 3 bytes, too short"});
  check_mentions(refusal_for(testing::little_endian_u64(1000) + "{}"), {"header length 1000 bytes runs past the end"});
  // An absurd length is refused by the limit alone, before anything is read or allocated.
  check_mentions(refusal_for(testing::little_endian_u64(100'000'001) + "{}"), {"exceeds the limit of 100000000"});
  check_mentions(refusal_for(testing::little_endian_u64(~std::uint64_t{0})), {"header length 18446744073709551615"});
}

TEST_CASE("headers that are not a JSON object are refused") {
  check_mentions(
      refusal_for_header(R"({"w":x)"),
      {"header is not valid JSON (near byte 6 of the header: syntax error while parsing value - invalid literal)"});
  check_mentions(refusal_for_header(""), {"header is not valid JSON"});
  check_mentions(refusal_for_header("{" + valid_entry + "} trailing"), {"header is not valid JSON"});
  check_mentions(refusal_for_header("{\"w\xff\":1}"), {"header is not valid JSON"});  // not UTF-8
  check_mentions(refusal_for_header("{\"a\0b\":1}"s), {"header is not valid JSON"});  // raw control character
  check_mentions(refusal_for_header("[1, 2]"), {"the header is an array, expected a JSON object"});
  check_mentions(refusal_for_header("null"), {"the header is null"});
  check_mentions(refusal_for_header(R"("text")"), {"the header is a string"});
  // Deep nesting stops at the first token that cannot belong to a header: no recursion, no stack.
  check_mentions(refusal_for_header(std::string(100'000, '[')), {"the header is an array"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":)" + std::string(100'000, '[')),
                 {"tensor 'w'", "\"dtype\" is an array"});
}

TEST_CASE("missing, unknown, repeated and ill-typed fields are refused with the tensor's name") {
  check_mentions(refusal_for_header(R"({"w":{"shape":[2],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "missing field \"dtype\""});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})"),
                 {"tensor 'w'", "missing field \"shape\""});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2]}})"),
                 {"tensor 'w'", "missing field \"data_offsets\""});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})"),
                 {"tensor 'w'", "unknown field 'extra'"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "field \"dtype\" appears twice"});
  check_mentions(refusal_for_header(R"({"w":3})"), {"tensor 'w'", "entry is a number"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "\"dtype\" is a number"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"),
                 {"tensor 'w'", "\"shape\" is a string"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "\"shape\" holds a number that is not a 64-bit integer"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "\"shape\" holds an array"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":{"0":8}}})"),
                 {"tensor 'w'", "\"data_offsets\" is an object"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})"),
                 {"tensor 'w'", "\"data_offsets\" needs two numbers [begin, end], found 1"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})"),
                 {"tensor 'w'", "\"data_offsets\" has more than two"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,1e30]}})"),
                 {"tensor 'w'", "\"data_offsets\" holds a number that is not a 64-bit integer"});
}

TEST_CASE("unsupported dtypes are refused, naming the dtype and what is supported") {
  check_mentions(refusal_for_header(R"({"w":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "dtype 'BOOL' is not supported", "F32, F16, BF16"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})"), {"dtype 'f32'"});
}

TEST_CASE("negative and overflowing shapes are refused") {
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "negative dimension -2"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "does not fit in int64"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "overflows 64 bits"});
  // Holding no elements does not excuse a shape whose strides would overflow.
  check_mentions(
      refusal_for_header(R"({"w":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""),
      {"tensor 'w'", "overflows 64 bits"});
  // 2^62 elements fit in int64, but not their 2^64 bytes.
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})"),
                 {"tensor 'w'", "overflows 64 bits"});
}

TEST_CASE("offsets out of range, overlapping, with holes or short of the end are refused") {
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}})"),
                 {"tensor 'w'", "negative offset -1"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})"),
                 {"tensor 'w'", "data_offsets [8, 0] end before they begin"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
                 {"tensor 'w'", "data_offsets [0, 16] run past the end of the data (8 bytes"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,8]}})"),
                 {"tensor 'w'", "end before they begin"});
  check_mentions(refusal_for_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    std::string(12, '\0')),
                 {"tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"});
  check_mentions(refusal_for_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),
                 {"overlap tensor 'a'"});
  check_mentions(refusal_for_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                                    std::string(20, '\0')),
                 {"data bytes [8, 12) belong to no tensor (a hole before tensor 'b')"});
  check_mentions(
      refusal_for_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0')),
      {"data bytes [0, 4) belong to no tensor (a hole before tensor 'w')"});
  check_mentions(refusal_for_header("{" + valid_entry + "}", std::string(12, '\0')),
                 {"data bytes [8, 12) at the end of the file belong to no tensor"});
  check_mentions(refusal_for_header("{}", "x"), {"data bytes [0, 1) at the end of the file"});
}

TEST_CASE("a byte count that disagrees with shape and dtype is refused") {
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
                 {"tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"});
  check_mentions(refusal_for_header(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})"),
                 {"shape [2, 3] of BF16 needs 12 bytes"});
}

TEST_CASE("a tensor named twice is refused") {
  check_mentions(refusal_for_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                    R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
                 {"tensor 'w' appears twice"});
}

TEST_CASE("ill-formed metadata is refused") {
  check_mentions(refusal_for_header(R"({"__metadata__":5,)" + valid_entry + "}"), {"\"__metadata__\" is a number"});
  check_mentions(refusal_for_header(R"({"__metadata__":{"format":1},)" + valid_entry + "}"),
                 {"\"__metadata__\" value for 'format' is a number"});
  check_mentions(refusal_for_header(R"({"__metadata__":{"k":"a","k":"b"},)" + valid_entry + "}"),
                 {"has the key 'k' twice"});
  check_mentions(refusal_for_header(R"({"__metadata__":{},"__metadata__":{},)" + valid_entry + "}"),
                 {"\"__metadata__\" appears twice"});
}

TEST_CASE("names from a hostile file cannot break the one-line message") {
  const std::string message =
      refusal_for_header(R"({"evil\nname\u001b[31m":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}})");
  check_mentions(message, {"tensor 'evil\\x0aname\\x1b[31m'"});
  const std::string long_name(100'000, 'n');
  const std::string long_message =
      refusal_for_header(R"({")" + long_name + R"(":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}})");
  check_mentions(long_message, {"nnn...'"});
}

TEST_CASE("paths that are not safetensors files are refused") {
  TemporaryFolder folder;
  sdk::Result<SafetensorsFile> missing = SafetensorsFile::open(folder / "missing.safetensors");
  REQUIRE_FALSE(missing.ok());
  check_mentions(missing.error().message, {"missing.safetensors: cannot open: No such file"});
  sdk::Result<SafetensorsFile> directory = SafetensorsFile::open(folder.path());
  REQUIRE_FALSE(directory.ok());
  check_mentions(directory.error().message, {"not a regular file"});
}

TEST_CASE("valid variations the reference writer or other writers produce are accepted") {
  TemporaryFolder folder;
  auto open_bytes = [&](const std::string& header, const std::string& data) {
    testing::write_file(folder / "variant.safetensors", safetensors_file_bytes(header, data));
    return SafetensorsFile::open(folder / "variant.safetensors");
  };
  SUBCASE("no tensors, padded header") {
    sdk::Result<SafetensorsFile> file = open_bytes("{}      ", "");
    REQUIRE_MESSAGE(file.ok(), file.error().message);
    CHECK(file->tensors().empty());
  }
  SUBCASE("null metadata, unpadded header, entries out of offset order, zero-byte tensors") {
    sdk::Result<SafetensorsFile> file = open_bytes(
        R"({"b":{"dtype":"U8","shape":[3],"data_offsets":[2,5]},"__metadata__":null,)"
        R"("z":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"y":{"dtype":"F32","shape":[4,0],"data_offsets":[2,2]},)"
        R"("a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})",
        "abcde");
    REQUIRE_MESSAGE(file.ok(), file.error().message);
    std::vector<std::string> names;
    for (const SafetensorsTensor& tensor : file->tensors()) names.push_back(tensor.name);
    CHECK(names == std::vector<std::string>{"a", "y", "z", "b"});
    CHECK(testing::as_string(file->find("b")->bytes) == "cde");
    CHECK(file->metadata().empty());
  }
}

}  // namespace
}  // namespace fthost::model
