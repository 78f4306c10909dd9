#pragma once
// A model folder whose config.json has a "quantization_config" (written by fthost quantize, or by
// transformers for a bitsandbytes model) -> the quantization strategy that reads its weights:
// "fthost_plugin" names the plugin when fthost wrote the folder; bitsandbytes folders map to
// quant_nf4 (load_in_4bit) or quant_int8 (load_in_8bit). Keys the plugin's option schema knows
// (by name or alias: bnb_4bit_quant_type, llm_int8_threshold, ...) become its options.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "fthost/runtime/loaded_strategy.hpp"
#include "fthost/runtime/plugin_registry.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

struct FolderQuantization {
  std::string plugin;      // the plugin that reads the folder's weights
  std::string description; // "bitsandbytes 4-bit nf4, double-quantized", for messages
};

// What config.json says about the folder's weights: nullopt when they are not quantized (or when
// config.json cannot be read: loading the model reports that). Refused with one line naming
// config.json: a quantization_config fthost cannot read.
sdk::Result<std::optional<FolderQuantization>> folder_quantization(const std::filesystem::path& folder);

struct LoadedQuantizationStrategy : LoadedStrategy {  // strategy: an sdk::QuantizationStrategy

  const sdk::QuantizationStrategy& quantization() const {
    return static_cast<const sdk::QuantizationStrategy&>(*strategy);
  }
};

// The strategy for a quantized folder (nullopt for a dense one), checked against `facts`.
sdk::Result<std::optional<LoadedQuantizationStrategy>> load_folder_quantization(const std::filesystem::path& folder,
                                                                                const PluginRegistry& registry,
                                                                                const sdk::PipelineFacts& facts);

}  // namespace fthost::runtime
