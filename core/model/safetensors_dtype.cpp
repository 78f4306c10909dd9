#include "model/safetensors_dtype.hpp"

#include <array>
#include <utility>

namespace fthost::model {
namespace {

using sdk::DType;

// Listed in the reference writer's enum order (BOOL, U8, I8, F8_*, I16, U16, F16, BF16, I32, U32,
// F32, F64, I64, U64) restricted to the dtypes fthost supports; the index is the alignment rank.
constexpr std::array<std::pair<DType, std::string_view>, 8> dtypes_in_reference_order{{
    {DType::u8, "U8"},
    {DType::i8, "I8"},
    {DType::f16, "F16"},
    {DType::bf16, "BF16"},
    {DType::i32, "I32"},
    {DType::f32, "F32"},
    {DType::f64, "F64"},
    {DType::i64, "I64"},
}};

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const auto& [candidate, name] : dtypes_in_reference_order) {
    if (candidate == dtype) return name;
  }
  return "?";
}

std::optional<DType> parse_safetensors_dtype(std::string_view name) {
  for (const auto& [dtype, candidate] : dtypes_in_reference_order) {
    if (candidate == name) return dtype;
  }
  return std::nullopt;
}

std::string_view supported_safetensors_dtype_names() { return "F32, F16, BF16, F64, I64, I32, I8, U8"; }

int safetensors_dtype_alignment_rank(DType dtype) {
  for (std::size_t rank = 0; rank < dtypes_in_reference_order.size(); ++rank) {
    if (dtypes_in_reference_order[rank].first == dtype) return static_cast<int>(rank);
  }
  return -1;
}

}  // namespace fthost::model
