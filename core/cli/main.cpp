// fthost: the command-line entry point. Parses the global options, sets up logging and hands the
// rest of the command line to one sub-command. Each sub-command returns a documented exit code.

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <exception>
#include <new>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fthost/runtime/build_paths.hpp"
#include "fthost/sdk/abi.h"
#include "fthost/sdk/sdk_hash.hpp"

namespace po = boost::program_options;

namespace fthost::cli {
namespace {

constexpr std::string_view commands_help =
    "usage: fthost [--log-level LEVEL] COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  plugins list                 plugins found (name, kind, version, file) and libraries rejected\n"
    "  plugins describe NAME        one plugin's status and every option (type, default, range, meaning)\n"
    "  sections                     every key of the host sections: model, data, training, output\n"
    "  validate PIPELINE [k=v ...]  check a pipeline without loading anything heavy\n"
    "  run PIPELINE [k=v ...] [--resume [latest|DIR]]\n"
    "                               validate, print the plan and train on CPU (fp32, or bf16 / fp16 with\n"
    "                               a precision: section): the whole model, or only an adapter\n"
    "                               (adapter: section, e.g. lora) with the base frozen, quantized or not\n"
    "                               (quantization: quant_nf4 = QLoRA, quant_int8 = LLM.int8())\n"
    "  init-model --config F --out DIR [--seed N]   a randomly initialised model folder\n"
    "  eval --model DIR [--adapter DIR] --data FILE [--format F] [--json] [--seq-len N] [--batch-size N]\n"
    "                               mean token loss and perplexity (token JSONL or text via tokenizer.json);\n"
    "                               model folders may be quantized (fthost quantize, bitsandbytes)\n"
    "  merge --model DIR --adapter DIR --out DIR   fold an adapter (PEFT layout) into a plain model folder\n"
    "  generate --model DIR [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T]\n"
    "           [--top-k K] [--top-p P] [--seed N]   continue a prompt, streamed to stdout\n"
    "  quantize --model DIR --method nf4|fp4|int8 [--blocksize N] [--double-quant] --out DIR\n"
    "                               store the linear weights in 4 or 8 bits (bitsandbytes' layout)\n"
    "  hw                           GPUs (CUDA runtime), CPU cores, memory and units, and what runs here\n"
    "\n"
    "Run `fthost COMMAND --help` for a command's own help.\n"
    "\n"
    "Exit codes: 0 ok; 1 internal error; 2 bad input (pipeline, options, files, command line);\n"
    "3 plugin problem (missing, failed to load, built for another SDK ABI, duplicate name);\n"
    "4 not available in this build (a strategy or backend not implemented yet).\n"
    "\n"
    "Environment: FTHOST_PLUGIN_PATH  colon-separated folders searched for plugins before the defaults.\n"
    "             FTHOST_CACHE_DIR    where tokenized copies of text data are kept (default ~/.cache/fthost).\n"
    "             FTHOST_PROGRESS=0   no progress bar on a terminal.\n";

// Global options come before the command; everything from the command on belongs to it.
std::size_t command_position(const std::vector<std::string>& arguments) {
  std::size_t i = 1;
  while (i < arguments.size() && arguments[i].starts_with("-")) {
    i += (arguments[i] == "--log-level") ? 2U : 1U;
  }
  return i;
}

bool configure_logging(const std::string& level_name) {
  spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") return false;
  auto logger = spdlog::stderr_color_mt("fthost");
  logger->set_pattern("%^fthost: %l%$: %v");
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  return true;
}

int dispatch(const std::vector<std::string>& all_arguments) {
  std::size_t command_index = command_position(all_arguments);
  std::string log_level = "info";
  po::options_description global("Global options");
  global.add_options()("help,h", "show the commands and exit")("version", "print the version and SDK ABI, and exit")(
      "log-level", po::value<std::string>(&log_level)->default_value("info"),
      "trace | debug | info | warning | error | off");
  po::variables_map variables;
  std::vector<const char*> global_argv;
  for (std::size_t i = 0; i < command_index && i < all_arguments.size(); ++i) global_argv.push_back(all_arguments[i].c_str());
  try {
    po::store(po::parse_command_line(static_cast<int>(global_argv.size()), global_argv.data(), global), variables);
    po::notify(variables);
  } catch (const po::error& failure) {
    return report_error(sdk::Error::invalid_input(std::string("command line: ") + failure.what() +
                                                  " (see `fthost --help`)"));
  }
  if (!configure_logging(log_level)) {
    return report_error(sdk::Error::invalid_input("command line: --log-level '" + log_level +
                                                  "' is not one of trace, debug, info, warning, error, off"));
  }
  if (variables.count("version") > 0) {
    std::cout << "fthost " << FTHOST_VERSION << " (plugin SDK ABI " << FTHOST_SDK_ABI_MAJOR << "."
              << FTHOST_SDK_ABI_MINOR << ", headers " << FTHOST_SDK_HASH << ")\n";
    return exit_ok;
  }
  if (variables.count("help") > 0 || command_index >= all_arguments.size()) {
    std::cout << commands_help << "\n" << global;
    return command_index >= all_arguments.size() && variables.count("help") == 0 ? exit_bad_input : exit_ok;
  }

  const std::string& command = all_arguments[command_index];
  Arguments arguments(all_arguments.begin() + static_cast<std::ptrdiff_t>(command_index) + 1, all_arguments.end());
  if (command == "plugins") return run_plugins_command(arguments);
  if (command == "validate") return run_validate_command(arguments);
  if (command == "run") return run_run_command(arguments);
  if (command == "sections") return run_sections_command(arguments);
  if (command == "init-model") return run_init_model_command(arguments);
  if (command == "eval") return run_eval_command(arguments);
  if (command == "merge") return run_merge_command(arguments);
  if (command == "generate") return run_generate_command(arguments);
  if (command == "quantize") return run_quantize_command(arguments);
  if (command == "hw") return run_hw_command(arguments);
  if (command == "help") {
    std::cout << commands_help << "\n" << global;
    return exit_ok;
  }
  return report_error(sdk::Error::invalid_input("command line: unknown command '" + command +
                                                "' (commands: plugins, sections, validate, run, init-model, eval, merge, generate, quantize, hw; see `fthost --help`)"));
}

}  // namespace
}  // namespace fthost::cli

namespace {

// libgomp reads its waiting policy once, when it is loaded (before main). By default idle workers
// spin for a long while at every barrier: on a machine whose cores are shared (a second job, a
// build, tests running side by side) each training step became ~15x slower (2.97 s against 0.18 s
// for a small run). A short spin keeps nearly all of the idle-machine speed (measured with
// fthost-bench-train: 1067 tokens/s against 1174 spinning and 920 sleeping at once) and
// loses little when cores are shared (0.35 s). fthost sets it and re-executes itself once;
// OMP_WAIT_POLICY or GOMP_SPINCOUNT set by the user take precedence.
void prefer_short_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("GOMP_SPINCOUNT", "20000", 1) != 0) return;
  execv("/proc/self/exe", argv);  // only returns on failure: carry on with the default policy
}

}  // namespace

int main(int argc, char** argv) {
  prefer_short_openmp_spinning(argv);
  try {
    std::vector<std::string> arguments(argv, argv + argc);
    return fthost::cli::dispatch(arguments);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "fthost: error: out of memory: the model or batch does not fit this machine's memory\n");
    return fthost::cli::exit_bad_input;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "fthost: internal error: %s\n", failure.what());
    return fthost::cli::exit_internal_error;
  }
}
