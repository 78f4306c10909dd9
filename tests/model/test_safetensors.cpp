// Reading and writing single safetensors files: round trips, and agreement with the Python library.

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <deque>

#include "model/safetensors.hpp"
#include "model/safetensors_dtype.hpp"
#include "model_test_support.hpp"

namespace fthost::model {
namespace {

using sdk::DType;
using testing::as_bytes;
using testing::as_string;
using testing::read_file;
using testing::TemporaryFolder;

const std::filesystem::path fixture_path = std::filesystem::path(FTHOST_MODEL_FIXTURE_DIR) / "tiny.safetensors";

// Decodes a tensor's little-endian bytes as T (the test host is little-endian, as x86 and ARM are).
template <typename T>
std::vector<T> values_of(const SafetensorsTensor& tensor) {
  REQUIRE(tensor.bytes.size() % sizeof(T) == 0);
  std::vector<T> values(tensor.bytes.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
  return values;
}

const SafetensorsTensor& require_tensor(const SafetensorsFile& file, std::string_view name) {
  const SafetensorsTensor* tensor = file.find(name);
  INFO("tensor ", name);
  REQUIRE(tensor != nullptr);
  return *tensor;
}

// Distinct bytes per tensor, so a tensor read from the wrong offset cannot pass.
std::string patterned_bytes(std::size_t count, unsigned seed) {
  std::string bytes(count, '\0');
  for (std::size_t index = 0; index < count; ++index)
    bytes[index] = static_cast<char>((index * 37 + seed * 101 + 11) % 256);
  return bytes;
}

TEST_CASE("every supported dtype survives a write and read back byte for byte") {
  TemporaryFolder folder;
  constexpr std::array dtypes{DType::f32, DType::f64, DType::bf16, DType::f16,
                              DType::i8,  DType::u8,  DType::i32,  DType::i64};
  std::deque<std::string> buffers;  // own the bytes the tensors view; a deque never moves them
  std::vector<SafetensorsTensor> tensors;
  for (DType dtype : dtypes) {
    const std::string name = "layer." + std::string(sdk::to_string(dtype)) + ".weight";
    buffers.push_back(patterned_bytes(3 * 5 * sdk::dtype_size(dtype), static_cast<unsigned>(buffers.size())));
    tensors.push_back({name, dtype, {3, 5}, {}});
  }
  for (std::size_t index = 0; index < tensors.size(); ++index) tensors[index].bytes = as_bytes(buffers[index]);
  buffers.push_back(patterned_bytes(4, 99));
  tensors.push_back({"scalar", DType::f32, {}, as_bytes(buffers.back())});
  tensors.push_back({"empty", DType::bf16, {0, 7}, {}});
  const SafetensorsMetadata metadata{{"format", "pt"}, {"note", "round trip"}};

  const std::filesystem::path path = folder / "model.safetensors";
  sdk::Result<std::uint64_t> written = write_safetensors(path, tensors, metadata);
  REQUIRE_MESSAGE(written.ok(), written.error().message);
  CHECK(*written == std::filesystem::file_size(path));

  sdk::Result<SafetensorsFile> file = SafetensorsFile::open(path);
  REQUIRE_MESSAGE(file.ok(), file.error().message);
  CHECK(file->tensors().size() == tensors.size());
  CHECK(file->metadata() == metadata);
  for (const SafetensorsTensor& expected : tensors) {
    const SafetensorsTensor& actual = require_tensor(*file, expected.name);
    CHECK(actual.dtype == expected.dtype);
    CHECK(actual.shape == expected.shape);
    CHECK(as_string(actual.bytes) == as_string(expected.bytes));
    // Sorted by dtype alignment behind an 8-byte-padded header, each tensor's data is aligned to
    // its element size inside the page-aligned mapping.
    CHECK(reinterpret_cast<std::uintptr_t>(actual.bytes.data()) % sdk::dtype_size(actual.dtype) == 0);
  }
  CHECK(file->find("absent") == nullptr);

  // Writing what was read reproduces the file exactly.
  const std::filesystem::path copy = folder / "copy.safetensors";
  REQUIRE(write_safetensors(copy, file->tensors(), file->metadata()).ok());
  CHECK(read_file(copy) == read_file(path));
}

TEST_CASE("a file written by Python's safetensors is read with its names, shapes and values") {
  sdk::Result<SafetensorsFile> file = SafetensorsFile::open(fixture_path);
  REQUIRE_MESSAGE(file.ok(), file.error().message);
  CHECK(file->metadata() == SafetensorsMetadata{{"format", "pt"}});

  std::vector<std::string> names_in_file_order;
  for (const SafetensorsTensor& tensor : file->tensors()) names_in_file_order.push_back(tensor.name);
  CHECK(names_in_file_order == std::vector<std::string>{"position_ids", "model.norm.weight", "empty",
                                                        "model.embed_tokens.weight", "scalar", "counts", "brain",
                                                        "half", "quantized", "bytes"});

  const SafetensorsTensor& embed = require_tensor(*file, "model.embed_tokens.weight");
  CHECK(embed.dtype == DType::f32);
  CHECK(embed.shape == std::vector<std::int64_t>{2, 3});
  CHECK(embed.element_count() == 6);
  CHECK(values_of<float>(embed) == std::vector<float>{-1.0F, -0.5F, 0.0F, 0.5F, 1.0F, 1.5F});

  const SafetensorsTensor& norm = require_tensor(*file, "model.norm.weight");
  CHECK(norm.dtype == DType::f64);
  CHECK(values_of<double>(norm) == std::vector<double>{1.25, -2.5});

  const SafetensorsTensor& position_ids = require_tensor(*file, "position_ids");
  CHECK(position_ids.dtype == DType::i64);
  CHECK(values_of<std::int64_t>(position_ids) == std::vector<std::int64_t>{-1, 0, std::int64_t{1} << 40});

  const SafetensorsTensor& counts = require_tensor(*file, "counts");
  CHECK(counts.dtype == DType::i32);
  CHECK(counts.shape == std::vector<std::int64_t>{2, 2});
  CHECK(values_of<std::int32_t>(counts) == std::vector<std::int32_t>{-7, 0, 7, 2147483647});

  // IEEE half bits of 1.0, -2.0, 0.5, 65504 (the largest finite half).
  const SafetensorsTensor& half = require_tensor(*file, "half");
  CHECK(half.dtype == DType::f16);
  CHECK(values_of<std::uint16_t>(half) == std::vector<std::uint16_t>{0x3C00, 0xC000, 0x3800, 0x7BFF});

  // bfloat16 bits of 1.0, -3.5, 0.15625: the top halves of their float32 bits.
  const SafetensorsTensor& brain = require_tensor(*file, "brain");
  CHECK(brain.dtype == DType::bf16);
  CHECK(values_of<std::uint16_t>(brain) == std::vector<std::uint16_t>{0x3F80, 0xC060, 0x3E20});

  const SafetensorsTensor& quantized = require_tensor(*file, "quantized");
  CHECK(quantized.dtype == DType::i8);
  CHECK(values_of<std::int8_t>(quantized) == std::vector<std::int8_t>{-128, 0, 127});

  const SafetensorsTensor& bytes = require_tensor(*file, "bytes");
  CHECK(bytes.dtype == DType::u8);
  CHECK(values_of<std::uint8_t>(bytes) == std::vector<std::uint8_t>{0, 255});

  const SafetensorsTensor& scalar = require_tensor(*file, "scalar");
  CHECK(scalar.shape.empty());
  CHECK(scalar.element_count() == 1);
  CHECK(values_of<float>(scalar) == std::vector<float>{42.0F});

  const SafetensorsTensor& empty = require_tensor(*file, "empty");
  CHECK(empty.shape == std::vector<std::int64_t>{0, 4});
  CHECK(empty.element_count() == 0);
  CHECK(empty.bytes.empty());
}

TEST_CASE("the writer reproduces Python's safetensors output byte for byte") {
  sdk::Result<SafetensorsFile> fixture = SafetensorsFile::open(fixture_path);
  REQUIRE_MESSAGE(fixture.ok(), fixture.error().message);
  // Handed over in reverse name order: the writer must find the reference order itself.
  std::vector<SafetensorsTensor> tensors(fixture->tensors().begin(), fixture->tensors().end());
  std::sort(tensors.begin(), tensors.end(), [](const auto& left, const auto& right) { return left.name > right.name; });

  TemporaryFolder folder;
  REQUIRE(write_safetensors(folder / "rewritten.safetensors", tensors, fixture->metadata()).ok());
  CHECK(read_file(folder / "rewritten.safetensors") == read_file(fixture_path));
}

TEST_CASE("the writer pads the header with spaces to 8 bytes and omits empty metadata") {
  sdk::Result<SafetensorsLayout> empty = plan_safetensors_layout({}, {}, "empty");
  REQUIRE(empty.ok());
  // The reference writer's output for no tensors: length 8, "{}" and six spaces.
  CHECK(empty->header == testing::little_endian_u64(8) + "{}      ");

  const std::string data(24, '\0');
  const std::vector<SafetensorsTensor> tensors{{"attn0", DType::f32, {1, 1, 2, 3}, as_bytes(data)}};
  sdk::Result<SafetensorsLayout> layout = plan_safetensors_layout(tensors, {}, "attn");
  REQUIRE(layout.ok());
  CHECK(layout->header == testing::little_endian_u64(72) +
                              R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + "       ");
}

TEST_CASE("the writer refuses bad tensors before touching the disk") {
  TemporaryFolder folder;
  const std::filesystem::path path = folder / "model.safetensors";
  const std::string eight_bytes(8, '\0');
  auto refusal = [&](std::vector<SafetensorsTensor> tensors, SafetensorsMetadata metadata = {}) {
    sdk::Result<std::uint64_t> written = write_safetensors(path, tensors, metadata);
    REQUIRE_FALSE(written.ok());
    CHECK(written.error().category == sdk::ErrorCategory::invalid_input);
    CHECK(written.error().message.starts_with(path.string() + ": "));
    CHECK(testing::folder_listing(folder.path()).empty());
    return written.error().message;
  };

  CHECK(refusal({{"w", DType::f32, {3}, as_bytes(eight_bytes)}})
            .find("tensor 'w': shape [3] of F32 needs 12 bytes but 8") != std::string::npos);
  CHECK(refusal({{"w", DType::f32, {2}, as_bytes(eight_bytes)}, {"w", DType::u8, {8}, as_bytes(eight_bytes)}})
            .find("tensor 'w' is given twice") != std::string::npos);
  CHECK(refusal({{"__metadata__", DType::u8, {8}, as_bytes(eight_bytes)}}).find("reserved") != std::string::npos);
  CHECK(refusal({{"w", DType::u8, {-8}, as_bytes(eight_bytes)}}).find("negative") != std::string::npos);
  CHECK(refusal({{"w", DType::u8, {std::int64_t{1} << 62, 4}, {}}}).find("overflows") != std::string::npos);
  CHECK(refusal({{"bad\xff", DType::u8, {8}, as_bytes(eight_bytes)}}).find("not valid UTF-8") != std::string::npos);
  CHECK(refusal({}, {{"key", "bad\xfe"}}).find("metadata key 'key'") != std::string::npos);
}

TEST_CASE("dtype names match the safetensors spelling") {
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i8, DType::u8, DType::i32, DType::i64}) {
    CHECK(parse_safetensors_dtype(safetensors_dtype_name(dtype)) == dtype);
  }
  CHECK(safetensors_dtype_name(DType::bf16) == "BF16");
  CHECK_FALSE(parse_safetensors_dtype("BOOL").has_value());
  CHECK_FALSE(parse_safetensors_dtype("f32").has_value());  // the format is case-sensitive
}

}  // namespace
}  // namespace fthost::model
