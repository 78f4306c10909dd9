#pragma once
// Vocabulary shared by the host and every plugin: element types and linear sites.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fthost::sdk {

enum class DType : std::uint8_t { f32, f64, bf16, f16, i8, u8, i32, i64 };

inline std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i8: return "i8";
    case DType::u8: return "u8";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

inline std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::bf16:
    case DType::f16: return 2;
    case DType::i8:
    case DType::u8: return 1;
  }
  return 0;
}

// How a site's output relates to a tensor-parallel split (Megatron's column / row parallel linears).
enum class SiteRole : std::uint8_t {
  column,  // splits output features: q/k/v, gate/up, lm_head
  row,     // splits input features: o_proj, down_proj
};

// One projection of the model, named as Hugging Face names the module
// ("model.layers.3.self_attn.q_proj"). Strategies decide per site what happens to it.
struct LinearSite {
  std::string name;
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  bool has_bias = false;
  SiteRole role = SiteRole::column;
  bool is_output_head = false;  // lm_head: excluded from "all-linear" adapters and default quantization

  // The last dotted component: "q_proj" for "model.layers.3.self_attn.q_proj".
  std::string_view leaf_name() const {
    std::string_view full = name;
    std::size_t dot = full.rfind('.');
    return dot == std::string_view::npos ? full : full.substr(dot + 1);
  }
};

// PEFT's rule for a target_modules entry: the full name equals it, or ends with "." + it.
inline bool site_name_matches(std::string_view site_name, std::string_view target) {
  if (site_name == target) return true;
  return site_name.size() > target.size() && site_name.ends_with(target) &&
         site_name[site_name.size() - target.size() - 1] == '.';
}

}  // namespace fthost::sdk
