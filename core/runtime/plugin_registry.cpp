#include "fthost/runtime/plugin_registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <cstddef>
#include <dlfcn.h>
#include <mutex>
#include <system_error>

#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "fthost/runtime/build_paths.hpp"
#include "fthost/runtime/suggest.hpp"

namespace fthost::runtime {
namespace {

namespace fs = std::filesystem;
using sdk::Error;

// Libraries stay mapped until the process exits (see the header): this registry owns them.
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static std::vector<boost::dll::shared_library> libraries;
  return libraries;
}

constexpr std::string_view host_cxx_runtime() { return FTHOST_SDK_CXX_RUNTIME_STRING_; }

bool is_plugin_file_name(const fs::path& path) {
  std::string file_name = path.filename().string();
  return file_name.starts_with("libfthost-") && path.extension() == ".so";
}

bool exe_runs_from_build_tree() {
  std::error_code ignored;
  fs::path exe = fs::weakly_canonical(boost::dll::program_location(), ignored);
  fs::path build = fs::weakly_canonical(fs::path(FTHOST_BUILD_TREE_DIR), ignored);
  auto [build_end, exe_position] = std::mismatch(build.begin(), build.end(), exe.begin(), exe.end());
  return build_end == build.end();
}

Error reject(const fs::path& library, const std::string& why) {
  return Error::plugin("plugin library '" + library.string() + "' " + why);
}

// Reads the exported alias names without running any code of the library (Boost's
// library_info parses the ELF file).
sdk::Result<bool> exports_plugin_entry(const fs::path& library) {
  try {
    boost::dll::library_info info(library, /*throw_if_not_native=*/true);
    std::vector<std::string> symbols = info.symbols(FTHOST_PLUGIN_SECTION_NAME);
    return std::find(symbols.begin(), symbols.end(), FTHOST_PLUGIN_ENTRY_NAME) != symbols.end();
  } catch (const std::exception& failure) {
    return reject(library, std::string("is not a shared library this system can load (") + failure.what() + ")");
  }
}

}  // namespace

std::vector<fs::path> default_plugin_search_path() {
  std::vector<fs::path> folders;
  if (const char* env = std::getenv("FTHOST_PLUGIN_PATH"); env != nullptr) {
    std::string_view remaining = env;
    while (!remaining.empty()) {
      std::size_t colon = remaining.find(':');
      std::string_view entry = remaining.substr(0, colon);
      if (!entry.empty()) folders.emplace_back(entry);
      if (colon == std::string_view::npos) break;
      remaining.remove_prefix(colon + 1);
    }
  }
  fs::path exe_folder = boost::dll::program_location().parent_path();
  folders.push_back(exe_folder.parent_path() / FTHOST_INSTALL_PLUGIN_SUBDIR);
  if (exe_runs_from_build_tree()) folders.emplace_back(FTHOST_BUILD_PLUGIN_DIR);
  // The build tree mirrors the install layout, so the last two can be one folder: search it once.
  std::vector<fs::path> unique;
  for (const fs::path& folder : folders) {
    fs::path normal = folder.lexically_normal();
    if (std::find(unique.begin(), unique.end(), normal) == unique.end()) unique.push_back(normal);
  }
  return unique;
}

sdk::Result<LoadedPlugin> load_plugin_library(const fs::path& library_path) {
  std::error_code ignored;
  fs::path library = fs::absolute(library_path, ignored);  // Boost rewrites bare names to ./name

  sdk::Result<bool> has_entry = exports_plugin_entry(library);
  if (!has_entry) return has_entry.error();
  if (!*has_entry) {
    return reject(library, std::string("is not an fthost plugin: it exports no '") + FTHOST_PLUGIN_ENTRY_NAME +
                               "' in section '" + FTHOST_PLUGIN_SECTION_NAME + "' (build it with FTHOST_PLUGIN(...))");
  }

  boost::dll::shared_library handle;
  boost::dll::fs::error_code load_error;
  // rtld_now: an unresolved symbol is a load-time error here, not a crash in the middle of training.
  handle.load(library, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, load_error);
  if (load_error || !handle.is_loaded()) {
    const char* reason = dlerror();
    return reject(library, std::string("failed to load: ") + (reason != nullptr ? reason : load_error.message()));
  }

  // Kept mapped from here on, accepted or not: its descriptor code has run, and unloading a library
  // that ran code (static constructors, registered atexit handlers) is what crashes at exit.
  loaded_libraries().push_back(handle);
  auto entry = handle.get_alias<const fthost_plugin_descriptor*()>(FTHOST_PLUGIN_ENTRY_NAME);
  const fthost_plugin_descriptor* descriptor = entry();
  if (descriptor == nullptr || descriptor->struct_size < offsetof(fthost_plugin_descriptor, abi_minor) + sizeof(uint32_t)) {
    return reject(library, "has an empty or truncated plugin descriptor");
  }
  if (descriptor->abi_major != FTHOST_SDK_ABI_MAJOR || descriptor->abi_minor > FTHOST_SDK_ABI_MINOR) {
    return reject(library, "was built for fthost SDK ABI " + std::to_string(descriptor->abi_major) + "." +
                               std::to_string(descriptor->abi_minor) + ", but this fthost provides ABI " +
                               std::to_string(FTHOST_SDK_ABI_MAJOR) + "." + std::to_string(FTHOST_SDK_ABI_MINOR) +
                               " (rebuild the plugin against this fthost's SDK)");
  }
  if (descriptor->struct_size < sizeof(fthost_plugin_descriptor) || descriptor->instance == nullptr ||
      descriptor->name == nullptr || descriptor->kind == nullptr || descriptor->sdk_hash == nullptr ||
      descriptor->cxx_runtime == nullptr) {
    return reject(library, "has an incomplete plugin descriptor");
  }
  if (std::strcmp(descriptor->sdk_hash, FTHOST_SDK_HASH) != 0) {
    return reject(library, std::string("was built against different SDK headers (SDK hash ") + descriptor->sdk_hash +
                               ", this fthost has " + FTHOST_SDK_HASH + ") under the same ABI " +
                               std::to_string(descriptor->abi_major) + "." + std::to_string(descriptor->abi_minor) +
                               " (rebuild the plugin against this fthost's SDK)");
  }
  if (host_cxx_runtime() != descriptor->cxx_runtime) {
    return reject(library, std::string("uses C++ runtime '") + descriptor->cxx_runtime + "', this fthost uses '" +
                               std::string(host_cxx_runtime()) + "'");
  }
  std::optional<sdk::StrategyKind> kind = sdk::strategy_kind_from_string(descriptor->kind);
  if (!kind) return reject(library, std::string("declares unknown strategy kind '") + descriptor->kind + "'");

  // The first C++ calls into the plugin: anything they throw rejects the library here, so the
  // host's later calls to kind(), options() and status() (which return stored values) are safe.
  const sdk::Plugin* plugin = nullptr;
  std::optional<sdk::StrategyKind> object_kind;
  try {
    plugin = static_cast<const sdk::Plugin*>(descriptor->instance());
    if (plugin == nullptr) return reject(library, "returned no plugin object");
    object_kind = plugin->kind();
    static_cast<void>(plugin->options().specs().size());
    static_cast<void>(plugin->status());
  } catch (const std::exception& failure) {
    return reject(library, std::string("threw while describing itself: ") + failure.what());
  } catch (...) {
    return reject(library, "threw a non-standard exception while describing itself");
  }
  if (object_kind != *kind) return reject(library, "declares kind '" + std::string(descriptor->kind) +
                                                       "' but its plugin object is of another kind");

  LoadedPlugin loaded;
  loaded.name = descriptor->name;
  loaded.version = descriptor->version != nullptr ? descriptor->version : "";
  loaded.summary = descriptor->summary != nullptr ? descriptor->summary : "";
  loaded.kind = *kind;
  loaded.path = library;
  loaded.abi_major = descriptor->abi_major;
  loaded.abi_minor = descriptor->abi_minor;
  loaded.sdk_hash = descriptor->sdk_hash;
  loaded.compiler = descriptor->compiler != nullptr ? descriptor->compiler : "";
  loaded.plugin = plugin;
  return loaded;
}

sdk::Result<PluginRegistry> PluginRegistry::discover(const std::vector<fs::path>& search_path) {
  PluginRegistry registry;
  registry.search_path_ = search_path;
  for (const fs::path& folder : search_path) {
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
      spdlog::debug("plugin folder '{}' does not exist; skipped", folder.string());
      continue;
    }
    std::vector<fs::path> candidates;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
      if (is_plugin_file_name(entry.path())) candidates.push_back(entry.path());
    }
    std::sort(candidates.begin(), candidates.end());  // a stable order: errors name files the same way every run
    for (const fs::path& candidate : candidates) {
      spdlog::debug("checking plugin library '{}'", candidate.string());
      sdk::Result<LoadedPlugin> loaded = load_plugin_library(candidate);
      if (!loaded) {
        spdlog::warn("{}; skipped", loaded.error().message);
        registry.rejected_.push_back({fs::absolute(candidate, error), loaded.error()});
        continue;
      }
      if (const LoadedPlugin* first = registry.find(loaded->name)) {
        if (fs::equivalent(first->path, loaded->path, error)) continue;  // the same file reached twice
        return Error::plugin("two plugins are named '" + loaded->name + "': '" + first->path.string() + "' and '" +
                             loaded->path.string() + "' (remove one, or take one folder out of FTHOST_PLUGIN_PATH)");
      }
      registry.plugins_.push_back(std::move(*loaded));
    }
  }
  return registry;
}

const LoadedPlugin* PluginRegistry::find(std::string_view name) const {
  for (const LoadedPlugin& plugin : plugins_) {
    if (plugin.name == name) return &plugin;
  }
  return nullptr;
}

Error PluginRegistry::missing_plugin_error(std::string_view name, sdk::StrategyKind wanted_kind) const {
  std::vector<std::string> same_kind;
  for (const LoadedPlugin& plugin : plugins_) {
    if (plugin.kind == wanted_kind) same_kind.push_back(plugin.name);
  }
  std::string kind_name(sdk::to_string(wanted_kind));
  std::string message = "no " + kind_name + " plugin named '" + std::string(name) + "' is installed";
  for (const RejectedLibrary& rejected : rejected_) {
    if (rejected.path.filename().string() == "libfthost-" + std::string(name) + ".so") {
      return Error::plugin(message + "; " + rejected.reason.message);
    }
  }
  if (std::optional<std::string> near = closest_match(name, same_kind)) message += " (did you mean '" + *near + "'?)";
  message += same_kind.empty() ? "; no " + kind_name + " plugins are installed"
                               : "; installed " + kind_name + " plugins: " + join(same_kind);
  return Error::plugin(message);
}

}  // namespace fthost::runtime
