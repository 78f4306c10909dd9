#pragma once
// A model folder's weights as Hugging Face stores them: one model.safetensors, or shards named by
// model.safetensors.index.json ({"metadata": {"total_size": N}, "weight_map": {tensor: shard}}).

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "model/safetensors.hpp"

namespace fthost::model {

inline constexpr std::string_view single_safetensors_file_name = "model.safetensors";
inline constexpr std::string_view safetensors_index_file_name = "model.safetensors.index.json";
// Hugging Face's default shard size ("5GB" in save_pretrained): bytes of tensor data per shard.
inline constexpr std::uint64_t default_max_shard_bytes = 5'000'000'000;

class SafetensorsCheckpoint {
 public:
  // Opens folder/model.safetensors or, when it is absent, folder/model.safetensors.index.json and
  // every shard it names. Refused (Error::invalid_input, one line): neither file present, an
  // index that is not JSON of the shape above, a shard name that leaves the folder, a shard that
  // cannot be opened or fails validation (naming the shard and a tensor mapped to it), a tensor
  // the index maps to a shard that lacks it. Tensors a shard holds but the index does not list are
  // ignored, as transformers does: the index is the checkpoint's table of contents.
  static sdk::Result<SafetensorsCheckpoint> open(const std::filesystem::path& folder);

  const std::filesystem::path& folder() const { return folder_; }
  std::span<const SafetensorsFile> files() const { return files_; }  // one, or the shards in index order
  const SafetensorsTensor* find(std::string_view name) const;        // nullptr when absent
  std::vector<const SafetensorsTensor*> tensors() const;             // sorted by name
  std::size_t tensor_count() const { return location_by_name_.size(); }

 private:
  struct Location {
    std::size_t file_index = 0;    // into files_
    std::size_t tensor_index = 0;  // into files_[file_index].tensors()
  };

  std::filesystem::path folder_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location, std::less<>> location_by_name_;
};

// Saves `tensors` into `folder` (created if missing) as Hugging Face does: one model.safetensors
// when the data fits in max_shard_bytes, else shards model-00001-of-0000N.safetensors filled in
// the given order (a new shard starts when the next tensor would overflow the current one; a
// tensor larger than the limit gets a shard of its own) and an index.json (keys sorted, indented
// by 2, as transformers writes it). `metadata` goes into every file. Each file is replaced
// atomically; afterwards, files of the other layout or stale shards of an earlier save are
// removed so that open() sees only this save. The folder as a whole is not replaced atomically:
// a crash mid-save can leave shards of two saves, so save into a fresh folder when the previous
// checkpoint must survive one. Returns the files written, shards first, the index last.
sdk::Result<std::vector<std::filesystem::path>> write_safetensors_checkpoint(
    const std::filesystem::path& folder, std::span<const SafetensorsTensor> tensors,
    const SafetensorsMetadata& metadata = {}, std::uint64_t max_shard_bytes = default_max_shard_bytes);

}  // namespace fthost::model
