// libFuzzer target: arbitrary bytes as a whole safetensors file through the header parser. A
// refusal must be one line naming the file; an accepted header must keep every promise readers
// rely on, and survive the writer's layout and a second parse unchanged.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/safetensors.hpp"
#include "model/safetensors_header.hpp"

namespace {

using fthost::model::SafetensorsEntry;
using fthost::model::SafetensorsHeader;
using fthost::model::SafetensorsTensor;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void check_refusal(const fthost::sdk::Error& error, std::string_view display_name) {
  require(error.category == fthost::sdk::ErrorCategory::invalid_input);
  require(error.message.starts_with(std::string(display_name) + ": "));
  require(error.message.find('\n') == std::string::npos);
}

// What SafetensorsFile and every later reader index without checking again.
void check_accepted(const SafetensorsHeader& header, std::size_t file_size) {
  require(header.data_start >= 8 && header.data_start <= file_size);
  const std::uint64_t data_bytes = file_size - header.data_start;
  std::uint64_t covered_until = 0;
  for (const SafetensorsEntry& entry : header.entries) {
    require(entry.data_begin == covered_until && entry.data_begin <= entry.data_end && entry.data_end <= data_bytes);
    require(fthost::model::safetensors_byte_count(entry.dtype, entry.shape) == entry.data_end - entry.data_begin);
    covered_until = entry.data_end;
  }
  require(covered_until == data_bytes);
}

bool same_entry(const SafetensorsEntry& left, const SafetensorsEntry& right) {
  return left.name == right.name && left.dtype == right.dtype && left.shape == right.shape &&
         left.data_end - left.data_begin == right.data_end - right.data_begin;
}

// The writer's layout of an accepted file parses back to the same tensors and metadata.
void check_rewrite(const SafetensorsHeader& header, std::span<const std::byte> file) {
  const std::span<const std::byte> data = file.subspan(static_cast<std::size_t>(header.data_start));
  std::vector<SafetensorsTensor> tensors;
  for (const SafetensorsEntry& entry : header.entries) {
    tensors.push_back({entry.name, entry.dtype, entry.shape,
                       data.subspan(static_cast<std::size_t>(entry.data_begin),
                                    static_cast<std::size_t>(entry.data_end - entry.data_begin))});
  }
  auto layout = fthost::model::plan_safetensors_layout(tensors, header.metadata, "fuzz-rewrite");
  require(layout.ok());
  std::vector<std::byte> rewritten(std::as_bytes(std::span(layout->header)).begin(),
                                   std::as_bytes(std::span(layout->header)).end());
  for (std::size_t index : layout->order) {
    rewritten.insert(rewritten.end(), tensors[index].bytes.begin(), tensors[index].bytes.end());
  }
  auto reparsed = fthost::model::parse_safetensors_header(rewritten, "fuzz-rewrite");
  require(reparsed.ok());
  check_accepted(*reparsed, rewritten.size());
  require(reparsed->metadata == header.metadata && reparsed->entries.size() == header.entries.size());
  for (const SafetensorsEntry& entry : reparsed->entries) {
    bool found = false;
    for (const SafetensorsEntry& original : header.entries) found = found || same_entry(entry, original);
    require(found);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::span<const std::byte> file = std::as_bytes(std::span(bytes, size));
  auto header = fthost::model::parse_safetensors_header(file, "fuzz-input");
  if (!header.ok()) {
    check_refusal(header.error(), "fuzz-input");
    return 0;
  }
  check_accepted(*header, size);
  if (header->entries.size() <= 64) check_rewrite(*header, file);  // quadratic comparison: keep it small
  return 0;
}
