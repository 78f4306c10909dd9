#pragma once
// The dtype spellings the bundled plugins accept in options (fp32, bf16, fp16: DeepSpeed's and
// bitsandbytes' words) and the SDK's DType they mean.

#include <stdexcept>
#include <string>
#include <string_view>

#include "fthost/sdk/types.hpp"

namespace fthost::plugins {

// The schema's enumeration guarantees one of the three spellings; anything else is a plugin bug,
// reported as std::logic_error and turned into an internal Error by the plugin's create().
inline sdk::DType dtype_from_option(std::string_view name) {
  if (name == "fp32") return sdk::DType::f32;
  if (name == "bf16") return sdk::DType::bf16;
  if (name == "fp16") return sdk::DType::f16;
  throw std::logic_error("unknown dtype option value '" + std::string(name) + "'");
}

}  // namespace fthost::plugins
