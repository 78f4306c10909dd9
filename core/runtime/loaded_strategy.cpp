#include "fthost/runtime/loaded_strategy.hpp"

#include <exception>

#include "fthost/sdk/plugin.hpp"

namespace fthost::runtime {

sdk::Result<LoadedStrategy> create_checked_strategy(const LoadedPlugin& plugin, const sdk::Options& options,
                                                    const sdk::PipelineFacts& facts, sdk::StrategyKind kind,
                                                    const std::string& where) {
  using sdk::Error;
  LoadedStrategy loaded;
  loaded.plugin = plugin;
  loaded.context = std::make_unique<HostContext>(plugin.name, facts.backend, 0, 1, 0);
  sdk::Result<std::unique_ptr<sdk::Strategy>> created = sdk::create_strategy_safely(*plugin.plugin, options, *loaded.context);
  if (!created) return Error{created.error().category, where + ": plugin '" + plugin.name + "': " + created.error().message};
  if (!*created || (*created)->kind() != kind) {
    return Error::internal(where + ": plugin '" + plugin.name + "' created no " + std::string(sdk::to_string(kind)) +
                           " strategy");
  }
  loaded.strategy = std::move(*created);
  sdk::Errors problems;
  try {
    problems = loaded.strategy->check(facts);
  } catch (const std::exception& failure) {
    problems.push_back(Error::internal(std::string("plugin threw from check(): ") + failure.what()));
  }
  if (!problems.empty()) {
    return Error{problems.front().category, where + ": plugin '" + plugin.name + "': " + problems.front().message};
  }
  return loaded;
}

}  // namespace fthost::runtime
