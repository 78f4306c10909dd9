#pragma once
// Safetensors files, the format of Hugging Face model folders: reading one in place (memory
// mapped, validated, no copies) and writing one atomically.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "fthost/sdk/types.hpp"
#include "model/mapped_file.hpp"
#include "model/safetensors_header.hpp"

namespace fthost::model {

// A tensor's description and bytes, wherever they live: in a mapped file when read, in the
// caller's buffers when written.
struct SafetensorsTensor {
  std::string name;  // Hugging Face parameter name: "model.layers.0.self_attn.q_proj.weight"
  sdk::DType dtype = sdk::DType::f32;
  std::vector<std::int64_t> shape;   // row-major, outermost dimension first; [] for a scalar
  std::span<const std::byte> bytes;  // product(shape) little-endian elements; not necessarily aligned

  std::int64_t element_count() const;  // product(shape); 1 for a scalar (shapes a reader returns cannot overflow)
};

// A safetensors file mapped read-only; every tensor is a view into the mapping, valid while the
// SafetensorsFile (or what it is moved into) lives.
class SafetensorsFile {
 public:
  // Maps and validates `path`; a file the header checks refuse (see parse_safetensors_header)
  // yields Error::invalid_input naming the file and, where one is at fault, the tensor.
  static sdk::Result<SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::span<const SafetensorsTensor> tensors() const { return tensors_; }  // in file order
  const SafetensorsTensor* find(std::string_view name) const;              // nullptr when absent
  const SafetensorsMetadata& metadata() const { return metadata_; }

 private:
  SafetensorsFile(std::filesystem::path path, MappedFile mapping)
      : path_(std::move(path)), mapping_(std::move(mapping)) {}

  std::filesystem::path path_;
  MappedFile mapping_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_by_name_;  // into tensors_
  SafetensorsMetadata metadata_;
};

// Writes `tensors` to `path` atomically (see write_file_atomically): readers see the old file or
// the whole new one. Laid out as the reference Python/Rust writer does: tensors sorted by
// descending dtype alignment then name, header JSON compact with "__metadata__" first (its keys
// sorted), padded with spaces to a multiple of 8 bytes. The output is byte-identical to
// safetensors.save_file for the same tensors when the metadata has at most one key (the Python
// library orders several keys by hash, unpredictably). Refused before anything is written: a
// duplicate or reserved ("__metadata__") name, a negative or overflowing shape, bytes that differ
// from product(shape) * dtype size, names or metadata that are not UTF-8. Returns the file's size.
sdk::Result<std::uint64_t> write_safetensors(const std::filesystem::path& path,
                                             std::span<const SafetensorsTensor> tensors,
                                             const SafetensorsMetadata& metadata = {});

// How write_safetensors lays a file out; exposed so that tests and the fuzzer can check the
// writer against the reader without touching the disk.
struct SafetensorsLayout {
  std::string header;              // what precedes the data: the 8-byte length and the padded JSON
  std::vector<std::size_t> order;  // indices into the tensors, in the order their bytes follow
};
// display_name prefixes error messages (the refusals listed for write_safetensors).
sdk::Result<SafetensorsLayout> plan_safetensors_layout(std::span<const SafetensorsTensor> tensors,
                                                       const SafetensorsMetadata& metadata,
                                                       std::string_view display_name);

}  // namespace fthost::model
