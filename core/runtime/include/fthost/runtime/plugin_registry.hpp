#pragma once
// Finds, checks and loads strategy plugins (libfthost-*.so) through Boost.DLL.
//
// Search order: FTHOST_PLUGIN_PATH (colon-separated), then the install's plugin folder
// (<prefix>/lib/fthost/plugins next to bin/fthost), then the build tree's plugin folder when this
// fthost runs from its build tree. Never the current directory unless a path names it.
//
// A library is checked through its plain-C descriptor before any of its C++ code runs. Loaded
// libraries are never unloaded: every strategy object, vtable and exception type they made stays
// valid until the process exits.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "fthost/sdk/plugin.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::string summary;
  sdk::StrategyKind kind = sdk::StrategyKind::precision;
  std::filesystem::path path;
  unsigned abi_major = 0;
  unsigned abi_minor = 0;
  std::string sdk_hash;
  std::string compiler;
  const sdk::Plugin* plugin = nullptr;  // owned by its library, which is never unloaded
};

// A library in a plugin folder that could not be used, and why (one line).
struct RejectedLibrary {
  std::filesystem::path path;
  sdk::Error reason;
};

// The folders searched, in order: FTHOST_PLUGIN_PATH entries, the install folder, the build folder.
std::vector<std::filesystem::path> default_plugin_search_path();

// Checks one library file and loads it. On failure the Error names the file and the reason.
sdk::Result<LoadedPlugin> load_plugin_library(const std::filesystem::path& library);

class PluginRegistry {
 public:
  // Scans the folders in order. Libraries that fail their checks are recorded as rejected (and
  // logged as warnings); two plugins with one name are an error naming both files.
  static sdk::Result<PluginRegistry> discover(const std::vector<std::filesystem::path>& search_path);

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  const std::vector<RejectedLibrary>& rejected() const { return rejected_; }
  const std::vector<std::filesystem::path>& search_path() const { return search_path_; }

  const LoadedPlugin* find(std::string_view name) const;

  // The error for a pipeline that names a plugin that is not here: lists the installed plugins of
  // that kind, suggests the closest name, and mentions a rejected library of that name if any.
  sdk::Error missing_plugin_error(std::string_view name, sdk::StrategyKind wanted_kind) const;

 private:
  std::vector<std::filesystem::path> search_path_;
  std::vector<LoadedPlugin> plugins_;
  std::vector<RejectedLibrary> rejected_;
};

}  // namespace fthost::runtime
