#include <cstdio>

#include "cli.hpp"

namespace fthost::cli {
namespace {

int exit_code_for(sdk::ErrorCategory category) {
  switch (category) {
    case sdk::ErrorCategory::invalid_input: return exit_bad_input;
    case sdk::ErrorCategory::plugin: return exit_plugin_error;
    case sdk::ErrorCategory::not_implemented: return exit_not_available;
    case sdk::ErrorCategory::internal: return exit_internal_error;
  }
  return exit_internal_error;
}

// When errors of several kinds come together, the exit code names the one the user must fix
// first: a bug beats bad input, bad input beats a missing plugin, which beats "not available".
int severity(sdk::ErrorCategory category) {
  switch (category) {
    case sdk::ErrorCategory::internal: return 3;
    case sdk::ErrorCategory::invalid_input: return 2;
    case sdk::ErrorCategory::plugin: return 1;
    case sdk::ErrorCategory::not_implemented: return 0;
  }
  return 3;
}

}  // namespace

int report_error(const sdk::Error& error) {
  std::fprintf(stderr, "fthost: error: %s\n", error.message.c_str());
  return exit_code_for(error.category);
}

int report_errors(const sdk::Errors& errors) {
  if (errors.empty()) return exit_ok;
  const sdk::Error* worst = &errors.front();
  for (const sdk::Error& error : errors) {
    report_error(error);
    if (severity(error.category) > severity(worst->category)) worst = &error;
  }
  return exit_code_for(worst->category);
}

sdk::Result<runtime::PluginRegistry> discover_plugins() {
  return runtime::PluginRegistry::discover(runtime::default_plugin_search_path());
}

}  // namespace fthost::cli
