// Malformed model folders are refused with one line naming the file and tensor.

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "model/model_weights.hpp"
#include "model/safetensors_checkpoint.hpp"
#include "reference_case.hpp"

namespace fs = std::filesystem;

namespace {

struct BrokenFolder {
  fs::path path;
  explicit BrokenFolder(const std::string& name) {
    path = fs::temp_directory_path() / ("fthost-broken-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(path);
    fs::copy(fthost::testing::reference_folder("llama_gqa"), path);
  }
  ~BrokenFolder() { fs::remove_all(path); }
  void write(const std::string& file, const std::string& content) const { std::ofstream(path / file) << content; }
  std::string read(const std::string& file) const {
    std::ifstream stream(path / file);
    return {std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>()};
  }
  std::string load_error() const {
    auto backend = fthost::backend::make_cpu_backend();
    auto loaded = fthost::model::load_transformer(path, *backend);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().category == fthost::sdk::ErrorCategory::invalid_input);
    return loaded.error().message;
  }
  // Rewrites model.safetensors without `dropped`, or with `reshaped` given another shape.
  void rewrite_weights(const std::string& dropped, const std::string& reshaped = "") const {
    auto checkpoint = fthost::model::SafetensorsCheckpoint::open(path);
    REQUIRE(checkpoint.ok());
    std::vector<fthost::model::SafetensorsTensor> tensors;
    std::vector<std::vector<std::byte>> copies;
    copies.reserve(checkpoint->tensor_count());  // tensors point into these: no reallocation
    for (const auto* tensor : checkpoint->tensors()) {
      if (tensor->name == dropped) continue;
      copies.emplace_back(tensor->bytes.begin(), tensor->bytes.end());
      fthost::model::SafetensorsTensor copy = *tensor;
      copy.bytes = copies.back();
      if (tensor->name == reshaped) copy.shape = {copy.shape[1], copy.shape[0]};
      tensors.push_back(copy);
    }
    auto written = fthost::model::write_safetensors(path / "model.safetensors.new", tensors);
    REQUIRE(written.ok());
    fs::rename(path / "model.safetensors.new", path / "model.safetensors");
  }
};

}  // namespace

TEST_CASE("a missing tensor is named") {
  BrokenFolder folder("missing");
  folder.rewrite_weights("model.layers.1.mlp.up_proj.weight");
  CHECK(folder.load_error() == (folder.path / "model.safetensors").string() +
                                   ": missing tensor 'model.layers.1.mlp.up_proj.weight' (a llama model with this "
                                   "config.json needs it)");
}

TEST_CASE("a tensor of the wrong shape is named with both shapes") {
  BrokenFolder folder("shape");
  folder.rewrite_weights("", "model.layers.0.self_attn.k_proj.weight");
  CHECK(folder.load_error() == (folder.path / "model.safetensors").string() +
                                   ": tensor 'model.layers.0.self_attn.k_proj.weight' has shape [64, 32], expected "
                                   "[32, 64] from config.json");
}

TEST_CASE("config.json problems name the key") {
  BrokenFolder folder("config");
  std::string config = folder.read("config.json");
  folder.write("config.json", std::string(config).replace(config.find("\"llama\""), 7, "\"mamba\""));
  CHECK(folder.load_error() == (folder.path / "config.json").string() +
                                   ": model_type 'mamba' is not supported (supported: llama, mistral, qwen2, gpt2)");
  folder.write("config.json", "{\"model_type\": \"llama\", \"hidden_size\": 64}");
  CHECK(folder.load_error() == (folder.path / "config.json").string() + ": missing key 'vocab_size'");
  folder.write("config.json", "{not json");
  CHECK(folder.load_error().starts_with((folder.path / "config.json").string() + ": not valid JSON"));
  fs::remove(folder.path / "config.json");
  CHECK(folder.load_error() == (folder.path / "config.json").string() +
                                   ": cannot read (is this a Hugging Face model folder?)");
}

TEST_CASE("a hostile safetensors file is refused, not loaded") {
  BrokenFolder folder("hostile");
  std::string bytes = folder.read("model.safetensors");
  // Header length far past the end of the file.
  bytes[0] = '\xff';
  bytes[1] = '\xff';
  bytes[2] = '\xff';
  folder.write("model.safetensors", bytes);
  std::string message = folder.load_error();
  CHECK(message.starts_with((folder.path / "model.safetensors").string()));
  CHECK(message.find('\n') == std::string::npos);
}
