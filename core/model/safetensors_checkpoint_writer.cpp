#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "model/atomic_file.hpp"
#include "model/safetensors_checkpoint.hpp"

namespace fthost::model {
namespace {

namespace fs = std::filesystem;

// "model-00002-of-00005.safetensors", 1-based, as transformers names shards.
std::string shard_file_name(std::size_t shard_number, std::size_t shard_count) {
  std::array<char, 64> name{};
  std::snprintf(name.data(), name.size(), "model-%05zu-of-%05zu.safetensors", shard_number, shard_count);
  return name.data();
}

bool is_shard_file_name(std::string_view name) {
  constexpr std::string_view prefix = "model-";
  constexpr std::string_view suffix = ".safetensors";
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return false;
  const std::string_view numbers = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  const std::size_t separator = numbers.find("-of-");
  if (separator == std::string_view::npos || separator == 0 || separator + 4 == numbers.size()) return false;
  auto all_digits = [](std::string_view text) {
    return text.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return all_digits(numbers.substr(0, separator)) && all_digits(numbers.substr(separator + 4));
}

// Tensors in the given order, split where the next tensor would push a shard past max_shard_bytes.
// Returns index lists into `tensors`; always at least one (possibly empty) shard.
std::vector<std::vector<std::size_t>> split_into_shards(std::span<const SafetensorsTensor> tensors,
                                                        std::uint64_t max_shard_bytes) {
  std::vector<std::vector<std::size_t>> shards(1);
  std::uint64_t shard_bytes = 0;
  for (std::size_t index = 0; index < tensors.size(); ++index) {
    const std::uint64_t tensor_bytes = tensors[index].bytes.size();
    if (!shards.back().empty() && shard_bytes + tensor_bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(index);
    shard_bytes += tensor_bytes;
  }
  return shards;
}

// Removes what an earlier save of the other layout, or with another shard count, left behind:
// otherwise open() could prefer a stale model.safetensors, or a reader glob old shards.
sdk::Result<std::size_t> remove_stale_files(const fs::path& folder, const std::set<std::string, std::less<>>& keep) {
  std::error_code error;
  std::vector<fs::path> stale;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    const bool ours =
        name == single_safetensors_file_name || name == safetensors_index_file_name || is_shard_file_name(name);
    if (ours && !keep.contains(name)) stale.push_back(entry.path());
  }
  if (error) return sdk::Error::invalid_input(folder.string() + ": cannot list the folder: " + error.message());
  for (const fs::path& path : stale) {
    if (!fs::remove(path, error) && error) {
      return sdk::Error::invalid_input(path.string() +
                                       ": cannot remove this file of an earlier save: " + error.message());
    }
  }
  return stale.size();
}

}  // namespace

sdk::Result<std::vector<fs::path>> write_safetensors_checkpoint(const fs::path& folder,
                                                                std::span<const SafetensorsTensor> tensors,
                                                                const SafetensorsMetadata& metadata,
                                                                std::uint64_t max_shard_bytes) {
  if (max_shard_bytes == 0) return sdk::Error::invalid_input(folder.string() + ": max_shard_bytes must be positive");
  // Refuse bad input (duplicates across shards included) before any file is touched.
  if (auto layout = plan_safetensors_layout(tensors, metadata, folder.string()); !layout) return layout.error();
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) return sdk::Error::invalid_input(folder.string() + ": cannot create the folder: " + error.message());

  const std::vector<std::vector<std::size_t>> shards = split_into_shards(tensors, max_shard_bytes);
  std::vector<fs::path> written;
  std::set<std::string, std::less<>> keep;
  nlohmann::json weight_map = nlohmann::json::object();  // std::map inside: keys sorted, as transformers' sort_keys
  std::uint64_t total_bytes = 0;
  for (std::size_t shard = 0; shard < shards.size(); ++shard) {
    const std::string name =
        shards.size() == 1 ? std::string(single_safetensors_file_name) : shard_file_name(shard + 1, shards.size());
    std::vector<SafetensorsTensor> shard_tensors;
    shard_tensors.reserve(shards[shard].size());
    for (std::size_t index : shards[shard]) {
      shard_tensors.push_back(tensors[index]);
      weight_map[tensors[index].name] = name;
      total_bytes += tensors[index].bytes.size();
    }
    if (auto result = write_safetensors(folder / name, shard_tensors, metadata); !result) return result.error();
    written.push_back(folder / name);
    keep.insert(name);
  }

  if (shards.size() > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", std::move(weight_map)}};
    // json.dumps(index, indent=2, sort_keys=True) + "\n", ASCII-escaped like Python's default.
    const std::string text = index.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
    const fs::path index_path = folder / safetensors_index_file_name;
    const std::array pieces{std::as_bytes(std::span(text))};
    if (auto result = write_file_atomically(index_path, pieces); !result) return result.error();
    written.push_back(index_path);
    keep.insert(std::string(safetensors_index_file_name));
  }
  if (auto removed = remove_stale_files(folder, keep); !removed) return removed.error();
  return written;
}

}  // namespace fthost::model
