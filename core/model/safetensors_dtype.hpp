#pragma once
// The safetensors spelling of element types ("F32", "BF16", ...) and the order the reference
// writer lays tensors out in.

#include <optional>
#include <string_view>

#include "fthost/sdk/types.hpp"

namespace fthost::model {

// "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8".
std::string_view safetensors_dtype_name(sdk::DType dtype);

// The dtype a header's "dtype" string names, or nullopt for one fthost does not compute with
// (BOOL, I16, U16, U32, U64, F8_*, ...): such files are refused rather than misread.
std::optional<sdk::DType> parse_safetensors_dtype(std::string_view name);

// The names parse_safetensors_dtype accepts, for error messages: "F32, F16, BF16, ...".
std::string_view supported_safetensors_dtype_names();

// Position in the reference (Rust) writer's dtype enum, which lists dtypes by increasing
// alignment. The writer emits larger ranks first, so every tensor's data stays aligned to its
// element size once the header is padded to 8 bytes.
int safetensors_dtype_alignment_rank(sdk::DType dtype);

}  // namespace fthost::model
