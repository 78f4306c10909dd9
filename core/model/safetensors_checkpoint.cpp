#include "model/safetensors_checkpoint.hpp"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "model/message_text.hpp"

namespace fthost::model {
namespace {

namespace fs = std::filesystem;

// Real indexes are kilobytes to a few megabytes; a bigger one is corrupt or hostile.
constexpr std::uintmax_t max_index_bytes = 100'000'000;

// The index's "weight_map": tensor name -> shard file name, sorted by tensor name.
using WeightMap = std::map<std::string, std::string, std::less<>>;

// A shard must be a file beside the index: a hostile index must not reach "../../etc/passwd".
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

sdk::Result<WeightMap> read_weight_map(const fs::path& index_path) {
  auto refuse = [&](const std::string& problem) {
    return sdk::Error::invalid_input(index_path.string() + ": " + problem);
  };
  std::error_code error;
  const std::uintmax_t size = fs::file_size(index_path, error);
  if (error) return refuse("cannot read: " + error.message());
  if (size > max_index_bytes) {
    return refuse("is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(max_index_bytes));
  }
  std::ifstream stream(index_path, std::ios::binary);
  std::string text(std::istreambuf_iterator<char>(stream), {});
  if (!stream && !stream.eof()) return refuse("cannot read");

  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& parse_error) {
    return refuse("not valid JSON: " + json_parse_error_reason(parse_error.what()));
  }
  if (!index.is_object()) return refuse("is not a JSON object");
  if (auto metadata = index.find("metadata"); metadata != index.end() && !metadata->is_object()) {
    return refuse("\"metadata\" is not an object");
  }
  auto weight_map_json = index.find("weight_map");
  if (weight_map_json == index.end()) return refuse("has no \"weight_map\"");
  if (!weight_map_json->is_object()) return refuse("\"weight_map\" is not an object of tensor name -> shard file");

  WeightMap weight_map;
  for (const auto& [tensor_name, shard] : weight_map_json->items()) {
    if (!shard.is_string()) {
      return refuse("\"weight_map\" entry for tensor " + quoted_for_message(tensor_name) + " is not a file name");
    }
    const auto& shard_name = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(shard_name)) {
      return refuse("tensor " + quoted_for_message(tensor_name) + " is mapped to " + quoted_for_message(shard_name) +
                    ", which is not a file name inside the folder");
    }
    weight_map.emplace(tensor_name, shard_name);
  }
  return weight_map;
}

}  // namespace

sdk::Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open(const fs::path& folder) {
  SafetensorsCheckpoint checkpoint;
  checkpoint.folder_ = folder;

  std::error_code error;
  const fs::path single_path = folder / single_safetensors_file_name;
  if (fs::exists(single_path, error)) {
    sdk::Result<SafetensorsFile> file = SafetensorsFile::open(single_path);
    if (!file) return file.error();
    for (std::size_t index = 0; index < file->tensors().size(); ++index) {
      checkpoint.location_by_name_.emplace(file->tensors()[index].name, Location{0, index});
    }
    checkpoint.files_.push_back(std::move(file).value());
    return checkpoint;
  }

  const fs::path index_path = folder / safetensors_index_file_name;
  if (!fs::exists(index_path, error)) {
    return sdk::Error::invalid_input(folder.string() + ": has neither " + std::string(single_safetensors_file_name) +
                                     " nor " + std::string(safetensors_index_file_name));
  }
  sdk::Result<WeightMap> weight_map = read_weight_map(index_path);
  if (!weight_map) return weight_map.error();

  // Shards open in name order (model-00001-of-00003 first), each once, however many tensors it holds.
  struct Shard {
    std::string first_tensor;  // named in errors about the shard as a whole
    std::size_t file_index = 0;
  };
  std::map<std::string, Shard, std::less<>> shards;
  for (const auto& [tensor_name, shard_name] : *weight_map) shards.try_emplace(shard_name, Shard{tensor_name});
  for (auto& [shard_name, shard] : shards) {
    sdk::Result<SafetensorsFile> file = SafetensorsFile::open(folder / shard_name);
    if (!file) {
      return sdk::Error::invalid_input(index_path.string() + ": shard " + quoted_for_message(shard_name) +
                                       " (holding tensor " + quoted_for_message(shard.first_tensor) +
                                       ") cannot be read: " + file.error().message);
    }
    shard.file_index = checkpoint.files_.size();
    checkpoint.files_.push_back(std::move(file).value());
  }

  for (const auto& [tensor_name, shard_name] : *weight_map) {
    const std::size_t file_index = shards.find(shard_name)->second.file_index;
    const SafetensorsFile& shard = checkpoint.files_[file_index];
    const SafetensorsTensor* tensor = shard.find(tensor_name);
    if (tensor == nullptr) {
      return sdk::Error::invalid_input(index_path.string() + ": tensor " + quoted_for_message(tensor_name) +
                                       " is mapped to shard " + quoted_for_message(shard_name) +
                                       ", which does not contain it");
    }
    const auto tensor_index = static_cast<std::size_t>(tensor - shard.tensors().data());
    checkpoint.location_by_name_.emplace(tensor_name, Location{file_index, tensor_index});
  }
  return checkpoint;
}

const SafetensorsTensor* SafetensorsCheckpoint::find(std::string_view name) const {
  auto found = location_by_name_.find(name);
  if (found == location_by_name_.end()) return nullptr;
  return &files_[found->second.file_index].tensors()[found->second.tensor_index];
}

std::vector<const SafetensorsTensor*> SafetensorsCheckpoint::tensors() const {
  std::vector<const SafetensorsTensor*> tensors;
  tensors.reserve(location_by_name_.size());
  for (const auto& [name, location] : location_by_name_) {
    tensors.push_back(&files_[location.file_index].tensors()[location.tensor_index]);
  }
  return tensors;
}

}  // namespace fthost::model
