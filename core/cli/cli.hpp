#pragma once
// Shared pieces of the fthost sub-commands.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fthost/runtime/adapter_folder.hpp"
#include "fthost/runtime/quantized_folder.hpp"
#include "fthost/runtime/plugin_registry.hpp"
#include "backend/backend.hpp"
#include "model/transformer.hpp"
#include "fthost/sdk/error.hpp"

namespace fthost::cli {

// Documented in README.md and `fthost --help`.
enum ExitCode : int {
  exit_ok = 0,
  exit_internal_error = 1,
  exit_bad_input = 2,       // pipeline, options, files or command line are wrong
  exit_plugin_error = 3,    // a plugin is missing, broken or built for another SDK
  exit_not_available = 4,   // asked for something this build does not implement (yet)
};

// Prints each error as one line on stderr and returns the exit code of the most severe one.
int report_errors(const sdk::Errors& errors);
int report_error(const sdk::Error& error);

// Discovers plugins on the default search path; an error when discovery itself fails.
sdk::Result<runtime::PluginRegistry> discover_plugins();

// Attaches the adapter saved in `folder` (PEFT's layout, from fthost or PEFT) to `transformer`,
// weights included; `model_folder` is the base it is attached to. The returned strategy must
// outlive the transformer's use of it.
sdk::Result<runtime::LoadedAdapterStrategy> attach_adapter_folder(model::Transformer& transformer,
                                                                  const std::string& model_folder,
                                                                  const std::filesystem::path& folder);

// A model folder loaded for use (eval, generate, merge), with the adapter folder applied when
// `adapter_path` is not empty. A quantized folder (config.json's quantization_config) is read by
// the plugin its config names. Members in destruction order: the model before its strategies,
// all before the backend whose memory they hold.
struct LoadedModel {
  std::unique_ptr<backend::Backend> backend;
  std::optional<runtime::LoadedQuantizationStrategy> quantization;
  std::optional<runtime::LoadedAdapterStrategy> adapter;
  std::unique_ptr<model::Transformer> model;
};
// The model (and adapter) on the device --backend names (auto, cpu, cuda); a quantized folder,
// whose plugins run on the CPU only in this version, is loaded on the CPU under auto.
sdk::Result<LoadedModel> load_model_for_use(const std::string& model_path, const std::string& adapter_path,
                                            const std::string& backend_name);

using Arguments = std::vector<std::string>;

int run_plugins_command(const Arguments& arguments);
int run_validate_command(const Arguments& arguments);
int run_run_command(const Arguments& arguments);
int run_sections_command(const Arguments& arguments);
int run_init_model_command(const Arguments& arguments);
int run_eval_command(const Arguments& arguments);
int run_merge_command(const Arguments& arguments);
int run_generate_command(const Arguments& arguments);
int run_hw_command(const Arguments& arguments);
int run_quantize_command(const Arguments& arguments);

// What config.json's model tells strategies at validation: its shape and linear sites.
sdk::PipelineFacts model_facts(const model::ModelConfig& config);

}  // namespace fthost::cli
