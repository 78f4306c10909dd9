#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "model/atomic_file.hpp"
#include "model/message_text.hpp"
#include "model/safetensors.hpp"
#include "model/safetensors_dtype.hpp"

namespace fthost::model {
namespace {

constexpr std::size_t header_alignment = 8;  // bytes: keeps every dtype's data aligned to its size

bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {  // 316: invalid UTF-8
    return false;
  }
}

}  // namespace

sdk::Result<SafetensorsLayout> plan_safetensors_layout(std::span<const SafetensorsTensor> tensors,
                                                       const SafetensorsMetadata& metadata,
                                                       std::string_view display_name) {
  auto refuse = [&](const std::string& problem) {
    return sdk::Error::invalid_input(printable_for_message(display_name, 4096) + ": " + problem);
  };
  for (const SafetensorsTensor& tensor : tensors) {
    const std::string context = "tensor " + quoted_for_message(tensor.name) + ": ";
    if (tensor.name == "__metadata__") return refuse(context + "the name is reserved for the header's metadata");
    if (!is_valid_utf8(tensor.name)) return refuse(context + "the name is not valid UTF-8");
    std::optional<std::uint64_t> expected_bytes = safetensors_byte_count(tensor.dtype, tensor.shape);
    if (!expected_bytes) {
      return refuse(context + "shape " + shape_for_message(tensor.shape) +
                    " has a negative dimension or overflows 64 bits");
    }
    if (*expected_bytes != tensor.bytes.size()) {
      return refuse(context + "shape " + shape_for_message(tensor.shape) + " of " +
                    std::string(safetensors_dtype_name(tensor.dtype)) + " needs " + std::to_string(*expected_bytes) +
                    " bytes but " + std::to_string(tensor.bytes.size()) + " were given");
    }
  }
  for (const auto& [key, value] : metadata) {
    if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
      return refuse("metadata key " + quoted_for_message(key) + ": key or value is not valid UTF-8");
    }
  }

  SafetensorsLayout layout;
  layout.order.resize(tensors.size());
  for (std::size_t index = 0; index < tensors.size(); ++index) layout.order[index] = index;
  // The reference writer's order: larger dtype alignment first, then name.
  std::sort(layout.order.begin(), layout.order.end(), [&](std::size_t left, std::size_t right) {
    return std::tuple(-safetensors_dtype_alignment_rank(tensors[left].dtype), std::string_view(tensors[left].name)) <
           std::tuple(-safetensors_dtype_alignment_rank(tensors[right].dtype), std::string_view(tensors[right].name));
  });
  std::vector<std::string_view> names;
  names.reserve(tensors.size());
  for (const SafetensorsTensor& tensor : tensors) names.emplace_back(tensor.name);
  std::sort(names.begin(), names.end());
  if (auto repeated = std::adjacent_find(names.begin(), names.end()); repeated != names.end()) {
    return refuse("tensor " + quoted_for_message(*repeated) + " is given twice");
  }

  // ordered_json keeps insertion order: "__metadata__" first, then tensors in data order, each
  // with dtype, shape, data_offsets, as serde serialises the reference writer's structs.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json metadata_json = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) metadata_json[key] = value;  // std::map: sorted keys
    header["__metadata__"] = std::move(metadata_json);
  }
  std::uint64_t offset = 0;  // bytes into the data region
  for (std::size_t index : layout.order) {
    const SafetensorsTensor& tensor = tensors[index];
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = safetensors_dtype_name(tensor.dtype);
    entry["shape"] = tensor.shape;
    entry["data_offsets"] = {offset, offset + tensor.bytes.size()};
    header[tensor.name] = std::move(entry);
    offset += tensor.bytes.size();
  }

  std::string json = header.dump();
  json.append((header_alignment - json.size() % header_alignment) % header_alignment, ' ');
  const auto json_bytes = static_cast<std::uint64_t>(json.size());
  layout.header.reserve(8 + json.size());
  for (std::size_t byte = 0; byte < 8; ++byte) layout.header += static_cast<char>((json_bytes >> (8 * byte)) & 0xFFU);
  layout.header += json;
  return layout;
}

sdk::Result<std::uint64_t> write_safetensors(const std::filesystem::path& path,
                                             std::span<const SafetensorsTensor> tensors,
                                             const SafetensorsMetadata& metadata) {
  sdk::Result<SafetensorsLayout> layout = plan_safetensors_layout(tensors, metadata, path.string());
  if (!layout) return layout.error();
  std::vector<std::span<const std::byte>> pieces;
  pieces.reserve(1 + tensors.size());
  pieces.push_back(std::as_bytes(std::span(layout->header)));
  for (std::size_t index : layout->order) pieces.push_back(tensors[index].bytes);
  return write_file_atomically(path, pieces);
}

}  // namespace fthost::model
