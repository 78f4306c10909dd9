#pragma once
// An adapter folder (PEFT's layout, written by fthost or by PEFT) -> the strategy that reads it:
// adapter_config.json's "peft_type" names the adapter plugin (in lower case: LORA -> lora), and
// its keys that the plugin's option schema knows become the plugin's options, validated as a
// pipeline's adapter: section would be.

#include <filesystem>
#include <memory>

#include "fthost/runtime/loaded_strategy.hpp"
#include "fthost/runtime/plugin_registry.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

struct LoadedAdapterStrategy : LoadedStrategy {  // strategy: an sdk::AdapterStrategy

  const sdk::AdapterStrategy& adapter() const { return static_cast<const sdk::AdapterStrategy&>(*strategy); }
};

// Refused with one line naming adapter_config.json: a missing or malformed file, no peft_type, no
// installed adapter plugin of that name, options the plugin rejects, PEFT features the file uses
// that fthost does not (use_dora, rank_pattern, alpha_pattern, layers_to_transform), or a
// strategy whose check() fails against `facts` (the base model's sites).
sdk::Result<LoadedAdapterStrategy> load_adapter_strategy(const std::filesystem::path& folder,
                                                         const PluginRegistry& registry,
                                                         const sdk::PipelineFacts& facts);

}  // namespace fthost::runtime
