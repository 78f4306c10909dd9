#include "model/safetensors.hpp"

#include <functional>
#include <utility>

namespace fthost::model {

std::int64_t SafetensorsTensor::element_count() const {
  std::int64_t count = 1;
  for (std::int64_t dimension : shape) count *= dimension;
  return count;
}

sdk::Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  sdk::Result<MappedFile> mapping = MappedFile::open_read_only(path);
  if (!mapping) return mapping.error();
  std::span<const std::byte> whole_file = mapping->bytes();
  sdk::Result<SafetensorsHeader> header = parse_safetensors_header(whole_file, path.string());
  if (!header) return header.error();

  SafetensorsFile file(path, std::move(mapping).value());
  std::span<const std::byte> data = whole_file.subspan(static_cast<std::size_t>(header->data_start));
  file.tensors_.reserve(header->entries.size());
  for (SafetensorsEntry& entry : header->entries) {
    // parse_safetensors_header checked data_begin <= data_end <= data.size().
    std::span<const std::byte> bytes = data.subspan(static_cast<std::size_t>(entry.data_begin),
                                                    static_cast<std::size_t>(entry.data_end - entry.data_begin));
    file.index_by_name_.emplace(entry.name, file.tensors_.size());
    file.tensors_.push_back(SafetensorsTensor{
        .name = std::move(entry.name), .dtype = entry.dtype, .shape = std::move(entry.shape), .bytes = bytes});
  }
  file.metadata_ = std::move(header->metadata);
  return file;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto found = index_by_name_.find(name);
  return found == index_by_name_.end() ? nullptr : &tensors_[found->second];
}

}  // namespace fthost::model
