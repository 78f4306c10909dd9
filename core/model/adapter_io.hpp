#pragma once
// Adapters in and out of folders in PEFT's layout:
//   adapter_config.json         the strategy's own config text (peft_type, r, lora_alpha, ...)
//   adapter_model.safetensors   the adapter's parameters under their saved names, f32
// so that `peft.PeftModel.from_pretrained(base, folder)` loads what fthost trains, and fthost
// loads what PEFT saves.

#include <filesystem>
#include <string>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "model/site_adapters.hpp"

namespace fthost::model {

inline constexpr const char* adapter_config_file_name = "adapter_config.json";
inline constexpr const char* adapter_weights_file_name = "adapter_model.safetensors";

// Writes both files into `folder` (created if needed), each atomically. Returns their paths.
sdk::Result<std::vector<std::filesystem::path>> save_adapter(const SiteAdapters& adapters,
                                                             const std::filesystem::path& folder,
                                                             const std::string& base_model_name_or_path);

// Reads folder/adapter_model.safetensors into `adapters`' parameters. Refused with one line
// naming the file and tensor: a missing tensor, a wrong shape, a non-float dtype, or a tensor the
// adapter layout does not have (an adapter made for other target modules or another model).
// PEFT also saves the base weight of an adapted output head or embedding
// ("<prefix><module>.base_layer.weight", for resized vocabularies) and loads it into the base
// model: so does this, into `base` (refused when `base` is null).
sdk::Result<bool> load_adapter_weights(SiteAdapters& adapters, const std::filesystem::path& folder,
                                       ParameterSet* base = nullptr);

}  // namespace fthost::model
