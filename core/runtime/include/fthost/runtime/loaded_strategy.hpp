#pragma once
// A strategy created outside a pipeline, from a saved folder's settings (an adapter folder's
// adapter_config.json, a quantized model's quantization_config): the plugin, the context it was
// given and the strategy, checked against the model as a pipeline's section would be.

#include <memory>
#include <string>

#include "fthost/runtime/compose.hpp"
#include "fthost/runtime/plugin_registry.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

struct LoadedStrategy {
  LoadedPlugin plugin;  // a copy: the registry it came from may be gone (its library never is)
  std::unique_ptr<HostContext> context;
  std::unique_ptr<sdk::Strategy> strategy;
};

// Creates `plugin`'s strategy from validated `options` and runs its check() against `facts`.
// Errors start with `where` (the file the settings came from) and name the plugin; a strategy of
// another kind than `kind`, or an exception from the plugin, is an error too.
sdk::Result<LoadedStrategy> create_checked_strategy(const LoadedPlugin& plugin, const sdk::Options& options,
                                                    const sdk::PipelineFacts& facts, sdk::StrategyKind kind,
                                                    const std::string& where);

}  // namespace fthost::runtime
