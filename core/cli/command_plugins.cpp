// `fthost plugins list` and `fthost plugins describe NAME`.

#include <algorithm>
#include <iostream>

#include "cli.hpp"
#include "fthost/runtime/suggest.hpp"
#include "option_printer.hpp"

namespace fthost::cli {
namespace {

constexpr std::string_view plugins_usage =
    "usage: fthost plugins list\n"
    "       fthost plugins describe NAME\n"
    "\n"
    "list      every plugin found: name, kind, version and file; then libraries that were rejected and why\n"
    "describe  one plugin: what it does today, and every option with its type, default, range and meaning\n"
    "\n"
    "Plugins are searched in FTHOST_PLUGIN_PATH (colon-separated folders), then the install's\n"
    "lib/fthost/plugins, then the build tree's plugins/ folder. Only files named libfthost-*.so are considered.\n";

int list_plugins(const runtime::PluginRegistry& registry) {
  std::vector<const runtime::LoadedPlugin*> sorted;
  for (const runtime::LoadedPlugin& plugin : registry.plugins()) sorted.push_back(&plugin);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return std::pair(a->kind, a->name) < std::pair(b->kind, b->name);
  });
  std::size_t name_width = 4;
  for (const auto* plugin : sorted) name_width = std::max(name_width, plugin->name.size());
  auto pad = [](const std::string& text, std::size_t width) { return text + std::string(width - text.size() + 2, ' '); };
  std::cout << pad("NAME", name_width) << pad("KIND", 12) << pad("VERSION", 8) << "PATH\n";
  for (const auto* plugin : sorted) {
    std::cout << pad(plugin->name, name_width) << pad(std::string(sdk::to_string(plugin->kind)), 12)
              << pad(plugin->version.substr(0, 8), 8) << plugin->path.string() << "\n";
  }
  if (sorted.empty()) std::cout << "(no plugins found)\n";
  if (!registry.rejected().empty()) {
    std::cout << "\nrejected libraries:\n";
    for (const runtime::RejectedLibrary& rejected : registry.rejected()) std::cout << "  " << rejected.reason.message << "\n";
  }
  std::cout << "\nsearch path:";
  for (const auto& folder : registry.search_path()) std::cout << "\n  " << folder.string();
  std::cout << "\n";
  return exit_ok;
}

int describe_plugin(const runtime::PluginRegistry& registry, const std::string& name) {
  const runtime::LoadedPlugin* plugin = registry.find(name);
  if (plugin == nullptr) {
    std::vector<std::string> names;
    for (const runtime::LoadedPlugin& candidate : registry.plugins()) names.push_back(candidate.name);
    std::string message = "no plugin named '" + name + "' is installed";
    if (auto near = runtime::closest_match(name, names)) message += " (did you mean '" + *near + "'?)";
    message += names.empty() ? "; no plugins were found" : "; installed: " + runtime::join(names);
    return report_error(sdk::Error::plugin(message));
  }
  std::string kind(sdk::to_string(plugin->kind));
  std::cout << plugin->name << " " << plugin->version << "  (" << kind << " plugin)\n"
            << "  " << plugin->summary << "\n\n"
            << "  file       " << plugin->path.string() << "\n"
            << "  SDK        ABI " << plugin->abi_major << "." << plugin->abi_minor << ", headers " << plugin->sdk_hash
            << "\n"
            << "  compiler   " << plugin->compiler << "\n\n"
            << "Status\n  " << plugin->plugin->status() << "\n\n"
            << "Options (pipeline section '" << kind << ":', with 'plugin: " << plugin->name << "')\n";
  print_option_schema(std::cout, plugin->plugin->options());
  return exit_ok;
}

}  // namespace

int run_plugins_command(const Arguments& arguments) {
  if (arguments.empty() || arguments[0] == "--help" || arguments[0] == "-h") {
    std::cout << plugins_usage;
    return arguments.empty() ? exit_bad_input : exit_ok;
  }
  const std::string& verb = arguments[0];
  if (verb != "list" && verb != "describe") {
    return report_error(sdk::Error::invalid_input("command line: unknown 'plugins' command '" + verb +
                                                  "' (expected 'list' or 'describe NAME')"));
  }
  if (verb == "list" && arguments.size() != 1) {
    return report_error(sdk::Error::invalid_input("command line: 'plugins list' takes no arguments"));
  }
  if (verb == "describe" && arguments.size() != 2) {
    return report_error(sdk::Error::invalid_input("command line: 'plugins describe' takes exactly one plugin name"));
  }
  sdk::Result<runtime::PluginRegistry> registry = discover_plugins();
  if (!registry) return report_error(registry.error());
  return verb == "list" ? list_plugins(*registry) : describe_plugin(*registry, arguments[1]);
}

}  // namespace fthost::cli
