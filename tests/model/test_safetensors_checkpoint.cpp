// Model folders: one model.safetensors, or shards listed by model.safetensors.index.json.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "model/safetensors_checkpoint.hpp"
#include "model_test_support.hpp"

namespace fthost::model {
namespace {

using sdk::DType;
using testing::as_bytes;
using testing::as_string;
using testing::folder_listing;
using testing::read_file;
using testing::TemporaryFolder;
using testing::write_file;

// Five tensors of 48, 16, 40, 8 and 100 bytes, each byte distinct per tensor.
class FiveTensors {
 public:
  FiveTensors() {
    const std::vector<std::pair<std::string, std::vector<std::int64_t>>> layout{
        {"model.embed_tokens.weight", {4, 3}},
        {"model.layers.0.q_proj.weight", {2, 2}},
        {"model.layers.0.k_proj.weight", {10}},
        {"model.norm.weight", {2}},
        {"lm_head.weight", {25}}};
    buffers_.reserve(layout.size());
    for (const auto& [name, shape] : layout) {
      std::int64_t elements = 1;
      for (std::int64_t dimension : shape) elements *= dimension;
      buffers_.emplace_back(static_cast<std::size_t>(elements) * 4, static_cast<char>('a' + buffers_.size()));
      tensors_.push_back({name, DType::f32, shape, as_bytes(buffers_.back())});
    }
  }
  FiveTensors(const FiveTensors&) = delete;  // the tensors view buffers_
  FiveTensors& operator=(const FiveTensors&) = delete;
  ~FiveTensors() = default;
  std::span<const SafetensorsTensor> tensors() const { return tensors_; }

 private:
  std::vector<std::string> buffers_;
  std::vector<SafetensorsTensor> tensors_;
};

void check_same_tensors(const SafetensorsCheckpoint& checkpoint, std::span<const SafetensorsTensor> expected) {
  CHECK(checkpoint.tensor_count() == expected.size());
  for (const SafetensorsTensor& tensor : expected) {
    INFO("tensor ", tensor.name);
    const SafetensorsTensor* actual = checkpoint.find(tensor.name);
    REQUIRE(actual != nullptr);
    CHECK(actual->dtype == tensor.dtype);
    CHECK(actual->shape == tensor.shape);
    CHECK(as_string(actual->bytes) == as_string(tensor.bytes));
  }
}

TEST_CASE("a sharded checkpoint round-trips through shards and an index") {
  TemporaryFolder folder;
  FiveTensors five;
  const SafetensorsMetadata metadata{{"format", "pt"}};
  // 64-byte shards: [48, 16] [40, 8] [100: larger than a shard, alone].
  sdk::Result<std::vector<std::filesystem::path>> written =
      write_safetensors_checkpoint(folder.path(), five.tensors(), metadata, 64);
  REQUIRE_MESSAGE(written.ok(), written.error().message);
  CHECK(written->size() == 4);
  CHECK(folder_listing(folder.path()) ==
        std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                 "model-00003-of-00003.safetensors", "model.safetensors.index.json"});

  const nlohmann::json index = nlohmann::json::parse(read_file(folder / "model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == 212);
  CHECK(index["weight_map"]["model.layers.0.q_proj.weight"] == "model-00001-of-00003.safetensors");
  CHECK(index["weight_map"]["model.norm.weight"] == "model-00002-of-00003.safetensors");
  CHECK(index["weight_map"]["lm_head.weight"] == "model-00003-of-00003.safetensors");

  sdk::Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(folder.path());
  REQUIRE_MESSAGE(checkpoint.ok(), checkpoint.error().message);
  CHECK(checkpoint->files().size() == 3);
  check_same_tensors(*checkpoint, five.tensors());
  CHECK(checkpoint->files()[0].metadata() == metadata);
  CHECK(checkpoint->find("absent") == nullptr);
  const std::vector<const SafetensorsTensor*> sorted = checkpoint->tensors();
  REQUIRE(sorted.size() == 5);
  CHECK(sorted.front()->name == "lm_head.weight");
  CHECK(sorted.back()->name == "model.norm.weight");
}

TEST_CASE("the index is laid out as transformers writes it") {
  TemporaryFolder folder;
  const std::string data(8, '\0');
  const std::vector<SafetensorsTensor> tensors{{"b", DType::f32, {2}, as_bytes(data)},
                                               {"a", DType::f32, {2}, as_bytes(data)}};
  REQUIRE(write_safetensors_checkpoint(folder.path(), tensors, {}, 8).ok());
  // json.dumps(index, indent=2, sort_keys=True) + "\n"
  CHECK(read_file(folder / "model.safetensors.index.json") ==
        "{\n"
        "  \"metadata\": {\n"
        "    \"total_size\": 16\n"
        "  },\n"
        "  \"weight_map\": {\n"
        "    \"a\": \"model-00002-of-00002.safetensors\",\n"
        "    \"b\": \"model-00001-of-00002.safetensors\"\n"
        "  }\n"
        "}\n");
}

TEST_CASE("a checkpoint that fits one shard is a single model.safetensors") {
  TemporaryFolder folder;
  FiveTensors five;
  sdk::Result<std::vector<std::filesystem::path>> written =
      write_safetensors_checkpoint(folder / "new" / "nested", five.tensors());
  REQUIRE_MESSAGE(written.ok(), written.error().message);
  CHECK(*written == std::vector<std::filesystem::path>{folder / "new" / "nested" / "model.safetensors"});
  sdk::Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(folder / "new" / "nested");
  REQUIRE_MESSAGE(checkpoint.ok(), checkpoint.error().message);
  CHECK(checkpoint->files().size() == 1);
  check_same_tensors(*checkpoint, five.tensors());
}

TEST_CASE("saving again removes the files of the earlier layout") {
  TemporaryFolder folder;
  FiveTensors five;
  write_file(folder / "config.json", "{}");  // not ours: must survive
  REQUIRE(write_safetensors_checkpoint(folder.path(), five.tensors(), {}, 64).ok());
  CHECK(folder_listing(folder.path()).size() == 5);

  REQUIRE(write_safetensors_checkpoint(folder.path(), five.tensors(), {}, 110).ok());  // [48,16,40] [8,100]
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                                                  "model-00002-of-00002.safetensors",
                                                                  "model.safetensors.index.json"});

  REQUIRE(write_safetensors_checkpoint(folder.path(), five.tensors()).ok());
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"config.json", "model.safetensors"});

  REQUIRE(write_safetensors_checkpoint(folder.path(), five.tensors(), {}, 110).ok());
  CHECK(folder_listing(folder.path()).size() == 4);  // model.safetensors gone, or open() would prefer it
  sdk::Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(folder.path());
  REQUIRE_MESSAGE(checkpoint.ok(), checkpoint.error().message);
  CHECK(checkpoint->files().size() == 2);
}

TEST_CASE("the sharded writer refuses bad input before writing anything") {
  TemporaryFolder folder;
  const std::string data(8, '\0');
  const std::vector<SafetensorsTensor> repeated{{"w", DType::f32, {2}, as_bytes(data)},
                                                {"w", DType::f32, {2}, as_bytes(data)}};
  sdk::Result<std::vector<std::filesystem::path>> written =
      write_safetensors_checkpoint(folder.path(), repeated, {}, 8);
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().message.find("tensor 'w' is given twice") != std::string::npos);
  CHECK_FALSE(write_safetensors_checkpoint(folder.path(), repeated, {}, 0).ok());
  CHECK(folder_listing(folder.path()).empty());
}

// Opens `folder`, requires a refusal naming the index, and returns its message.
std::string checkpoint_refusal(const TemporaryFolder& folder) {
  sdk::Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(folder.path());
  REQUIRE_FALSE(checkpoint.ok());
  const std::string& message = checkpoint.error().message;
  INFO("message: ", message);
  CHECK(checkpoint.error().category == sdk::ErrorCategory::invalid_input);
  CHECK(message.find('\n') == std::string::npos);
  return message;
}

TEST_CASE("broken indexes are refused, naming the index, the shard and the tensor") {
  TemporaryFolder folder;
  FiveTensors five;
  REQUIRE(write_safetensors_checkpoint(folder.path(), five.tensors(), {}, 64).ok());
  const std::filesystem::path index_path = folder / "model.safetensors.index.json";
  const std::string index_text = read_file(index_path);
  const std::string index_prefix = index_path.string() + ": ";

  SUBCASE("a shard is missing") {
    std::filesystem::remove(folder / "model-00002-of-00003.safetensors");
    const std::string message = checkpoint_refusal(folder);
    CHECK(message.starts_with(index_prefix));
    CHECK(message.find("shard 'model-00002-of-00003.safetensors' (holding tensor 'model.layers.0.k_proj.weight') "
                       "cannot be read: ") != std::string::npos);
    CHECK(message.find("No such file") != std::string::npos);
  }
  SUBCASE("a shard lacks a tensor the index maps to it") {
    nlohmann::json index = nlohmann::json::parse(index_text);
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00003.safetensors";
    write_file(index_path, index.dump());
    CHECK(checkpoint_refusal(folder) ==
          index_prefix +
              "tensor 'model.norm.weight' is mapped to shard 'model-00001-of-00003.safetensors', "
              "which does not contain it");
  }
  SUBCASE("a shard is corrupt") {
    write_file(folder / "model-00003-of-00003.safetensors", "garbage!garbage");
    const std::string message = checkpoint_refusal(folder);
    CHECK(message.find("shard 'model-00003-of-00003.safetensors' (holding tensor 'lm_head.weight')") !=
          std::string::npos);
    CHECK(message.find((folder / "model-00003-of-00003.safetensors").string() + ": header length") !=
          std::string::npos);
  }
  SUBCASE("a shard name leaves the folder") {
    write_file(index_path, R"({"weight_map":{"w":"../model.safetensors"}})");
    CHECK(checkpoint_refusal(folder).find("tensor 'w' is mapped to '../model.safetensors', which is not a file name "
                                          "inside the folder") != std::string::npos);
  }
  SUBCASE("the index is not JSON") {
    write_file(index_path, "{\"weight_map\":");
    CHECK(checkpoint_refusal(folder).starts_with(index_prefix + "not valid JSON"));
  }
  SUBCASE("the index has no weight map") {
    write_file(index_path, R"({"metadata":{"total_size":0}})");
    CHECK(checkpoint_refusal(folder) == index_prefix + "has no \"weight_map\"");
  }
  SUBCASE("a weight map entry is not a file name") {
    write_file(index_path, R"({"weight_map":{"w":3}})");
    CHECK(checkpoint_refusal(folder).find("entry for tensor 'w' is not a file name") != std::string::npos);
  }
}

TEST_CASE("a folder without weights is refused") {
  TemporaryFolder folder;
  CHECK(checkpoint_refusal(folder) ==
        folder.path().string() + ": has neither model.safetensors nor model.safetensors.index.json");
}

}  // namespace
}  // namespace fthost::model
