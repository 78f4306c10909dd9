// `fthost validate FILE [key=value ...]`, `fthost run FILE [key=value ...]` and `fthost sections`.

#include <iostream>

#include "cli.hpp"
#include "fthost/runtime/compose.hpp"
#include "fthost/runtime/host_schema.hpp"
#include "fthost/runtime/pipeline.hpp"
#include "option_printer.hpp"

namespace fthost::cli {
namespace {

constexpr std::string_view validate_usage =
    "usage: fthost validate PIPELINE.yaml [key.path=value ...] [~key.path ...]\n"
    "\n"
    "Checks a pipeline without loading weights or data: every key of every section against the host's\n"
    "and the named plugins' option schemas (unknown keys, types, ranges, required keys), that the model\n"
    "folder and data files exist, and that each strategy supports this backend and world size.\n"
    "Overrides edit the pipeline before validation: training.learning_rate=3e-4, adapter.r=16,\n"
    "adapter.target_modules=[q_proj,v_proj]; ~adapter removes a key or a whole section.\n"
    "Prints 'valid' and exits 0, or prints one line per problem and exits 2 (bad input),\n"
    "3 (plugin problem) or 4 (not available in this build).\n";

constexpr std::string_view run_usage =
    "usage: fthost run PIPELINE.yaml [key.path=value ...] [~key.path ...]\n"
    "\n"
    "Validates the pipeline (see `fthost validate --help`), composes the strategies and prints the plan.\n"
    "Training itself is not available in this build yet: after the plan, run says so and exits 4.\n";

constexpr std::string_view sections_usage =
    "usage: fthost sections\n"
    "\n"
    "Prints every key of the host's pipeline sections (model, data, training, output) with type,\n"
    "default and meaning. Strategy sections are described by `fthost plugins describe NAME`.\n";

bool wants_help(const Arguments& arguments) {
  for (const std::string& argument : arguments) {
    if (argument == "--help" || argument == "-h") return true;
  }
  return false;
}

// Parses FILE and overrides, loads plugins and validates; on success returns the composition.
struct Validated {
  std::unique_ptr<runtime::ComposedPipeline> pipeline;
  sdk::Errors errors;
};

Validated validate_pipeline(const Arguments& arguments, std::string_view command) {
  Validated result;
  if (arguments.empty()) {
    result.errors.push_back(sdk::Error::invalid_input("command line: '" + std::string(command) +
                                                      "' needs a pipeline file (see `fthost " + std::string(command) +
                                                      " --help`)"));
    return result;
  }
  if (arguments[0].starts_with("-")) {
    result.errors.push_back(sdk::Error::invalid_input("command line: unknown option '" + arguments[0] + "'"));
    return result;
  }
  std::vector<runtime::Override> overrides;
  for (std::size_t i = 1; i < arguments.size(); ++i) {
    sdk::Result<runtime::Override> parsed = runtime::parse_override(arguments[i]);
    if (!parsed) {
      result.errors.push_back(parsed.error());
    } else {
      overrides.push_back(std::move(*parsed));
    }
  }
  if (!result.errors.empty()) return result;

  sdk::Result<runtime::PluginRegistry> registry = discover_plugins();
  if (!registry) {
    result.errors.push_back(registry.error());
    return result;
  }
  runtime::PipelineLoad load = runtime::load_pipeline(arguments[0], overrides, *registry);
  if (!load.errors.empty()) {
    result.errors = std::move(load.errors);
    return result;
  }
  runtime::Composition composition = runtime::compose_pipeline(std::move(load.spec));
  result.errors = std::move(composition.errors);
  result.pipeline = std::move(composition.pipeline);
  return result;
}

}  // namespace

int run_validate_command(const Arguments& arguments) {
  if (wants_help(arguments)) {
    std::cout << validate_usage;
    return exit_ok;
  }
  Validated validated = validate_pipeline(arguments, "validate");
  if (!validated.errors.empty()) return report_errors(validated.errors);
  std::cout << arguments[0] << ": valid\n";
  return exit_ok;
}

int run_run_command(const Arguments& arguments) {
  if (wants_help(arguments)) {
    std::cout << run_usage;
    return exit_ok;
  }
  Validated validated = validate_pipeline(arguments, "run");
  if (!validated.errors.empty()) return report_errors(validated.errors);
  std::cout << "Plan\n";
  for (const std::string& line : runtime::describe_plan(*validated.pipeline)) std::cout << "  " << line << "\n";
  std::cout.flush();
  return report_error(sdk::Error::not_implemented(
      "training is not available in this build of fthost yet: the pipeline is valid and the plan above is what "
      "would run; nothing was trained and nothing was written"));
}

int run_sections_command(const Arguments& arguments) {
  if (wants_help(arguments)) {
    std::cout << sections_usage;
    return exit_ok;
  }
  if (!arguments.empty()) return report_error(sdk::Error::invalid_input("command line: 'sections' takes no arguments"));
  bool first = true;
  for (const runtime::HostSection& section : runtime::host_sections()) {
    std::cout << (first ? "" : "\n") << section.name << ":  (" << section.summary << ")\n";
    print_option_schema(std::cout, section.schema);
    first = false;
  }
  std::cout << "\nStrategy sections (precision:, quantization:, adapter:, sharding:, parallelism:) take\n"
               "'plugin: NAME' and that plugin's options: see `fthost plugins describe NAME`.\n";
  return exit_ok;
}

}  // namespace fthost::cli
