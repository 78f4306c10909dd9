#pragma once
// The safetensors header: an 8-byte little-endian length N, then N bytes of JSON giving every
// tensor's dtype, shape and byte range in the data region that follows. Parsing validates all
// that a reader relies on, so the data may be indexed afterwards without further checks.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "fthost/sdk/types.hpp"

namespace fthost::model {

// One tensor as the header describes it.
struct SafetensorsEntry {
  std::string name;
  sdk::DType dtype = sdk::DType::f32;
  std::vector<std::int64_t> shape;  // row-major, outermost dimension first; [] for a scalar
  std::uint64_t data_begin = 0;     // byte offsets into the data region (the bytes after the header)
  std::uint64_t data_end = 0;       // one past the tensor's last byte
};

// The header's optional "__metadata__" object (the Python library writes {"format": "pt"}).
using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsHeader {
  std::uint64_t data_start = 0;           // file offset of the data region: 8 + header length
  std::vector<SafetensorsEntry> entries;  // in file order: by data_begin, zero-byte tensors by name
  SafetensorsMetadata metadata;
};

// The reference reader's limit; a larger header means a corrupt or foreign file, and refusing it
// early keeps a hostile length from driving a huge allocation.
inline constexpr std::uint64_t max_safetensors_header_bytes = 100'000'000;

// Parses and validates the header of a whole safetensors file (header and data, as mapped).
// Refused, with a one-line message that starts with display_name and names the tensor where one
// is at fault: a file shorter than 8 bytes, a header length past the file or over the limit,
// JSON that is malformed, not an object or not UTF-8, missing, unknown, repeated or ill-typed
// fields, an unsupported dtype, a negative dimension or a shape whose size overflows 64 bits,
// offsets that end before they begin, run past the data, overlap, leave holes or fail to reach
// the end of the file, a byte count that differs from product(shape) * dtype size, and a tensor
// named twice. The data need not be aligned: the reference writer aligns it, others may not.
sdk::Result<SafetensorsHeader> parse_safetensors_header(std::span<const std::byte> whole_file,
                                                        std::string_view display_name);

// product(shape) * dtype_size(dtype) in bytes, or nullopt when a dimension is negative or the
// shape's size, counting zero dimensions as 1, does not fit in int64 (strides computed from such
// a shape would overflow even when it holds no elements).
std::optional<std::uint64_t> safetensors_byte_count(sdk::DType dtype, std::span<const std::int64_t> shape);

}  // namespace fthost::model
