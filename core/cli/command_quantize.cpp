// `fthost quantize`: a dense model folder -> the same model with its linear weights stored by a
// quantization plugin, in bitsandbytes' serialized layout, so runs read it without re-quantizing.

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <tuple>

#include <boost/program_options.hpp>
#include <yaml-cpp/yaml.h>

#include "backend/cpu/cpu_backend.hpp"
#include "cli.hpp"
#include "command_options.hpp"
#include "fthost/runtime/option_validation.hpp"
#include "fthost/sdk/plugin.hpp"
#include "model/model_weights.hpp"

namespace po = boost::program_options;

namespace fthost::cli {

int run_quantize_command(const Arguments& arguments) {
  std::string model_path;
  std::string method;
  std::string out;
  std::int64_t blocksize = 64;
  double threshold = 6.0;
  std::string compute_dtype;
  std::vector<std::string> skip_modules;
  std::vector<std::string> target_modules;
  po::options_description options("quantize options");
  options.add_options()("help,h", "show this help")("model", po::value(&model_path)->required(),
                                                     "the dense Hugging Face model folder")(
      "method", po::value(&method)->required(), "nf4 | fp4 (plugin quant_nf4) or int8 (plugin quant_int8, LLM.int8())")(
      "out", po::value(&out)->required(), "folder to write: config.json + model.safetensors + tokenizer files")(
      "blocksize", po::value(&blocksize), "nf4/fp4: weights per absmax block, a power of two in 32..4096 (default 64)")(
      "double-quant", "nf4/fp4: quantize the absmax values to 8 bits too (QLoRA double quantization)")(
      "compute-dtype", po::value(&compute_dtype), "nf4/fp4: fp32 | bf16 | fp16, recorded for runs (default fp32)")(
      "threshold", po::value(&threshold), "int8: llm_int8_threshold, the outlier magnitude (default 6.0; 0: none)")(
      "target-modules", po::value(&target_modules)->multitoken(), "linear modules to quantize (default: all-linear)")(
      "skip-modules", po::value(&skip_modules)->multitoken(), "linear modules kept dense (default: lm_head)");
  po::variables_map variables;
  if (auto done = parse_options(arguments, options,
                                "usage: fthost quantize --model DIR --method nf4|fp4|int8 [--blocksize N] [--double-quant]\n"
                                "                       [--threshold T] [--target-modules M...] [--skip-modules M...] --out DIR\n\n"
                                "Writes the model with every linear weight (but the skipped modules) quantized as\n"
                                "bitsandbytes stores it (4-bit: weight, weight.absmax, weight.quant_map, nested keys and\n"
                                "weight.quant_state.bitsandbytes__nf4; 8-bit: weight, SCB, weight_format) and a\n"
                                "quantization_config in config.json. Pipelines and fthost eval/generate read the folder\n"
                                "without re-quantizing; transformers with bitsandbytes loads it too.\n",
                                variables)) {
    return *done;
  }
  const bool four_bit = method == "nf4" || method == "fp4";
  if (!four_bit && method != "int8") {
    return report_error(sdk::Error::invalid_input("command line: --method must be nf4, fp4 or int8; got '" + method + "'"));
  }
  for (const char* four_bit_only : {"blocksize", "double-quant", "compute-dtype"}) {
    if (!four_bit && variables.count(four_bit_only) > 0) {
      return report_error(sdk::Error::invalid_input(std::string("command line: --") + four_bit_only +
                                                    " applies to --method nf4 or fp4, not int8"));
    }
  }
  if (four_bit && variables.count("threshold") > 0) {
    return report_error(sdk::Error::invalid_input("command line: --threshold applies to --method int8"));
  }
  std::error_code error;
  if (std::filesystem::equivalent(model_path, out, error)) {
    return report_error(sdk::Error::invalid_input("command line: --out " + out +
                                                  " is the model's own folder; write the quantized model to a new folder"));
  }
  sdk::Result<std::optional<runtime::FolderQuantization>> already = runtime::folder_quantization(model_path);
  if (!already) return report_error(already.error());
  if (*already) {
    return report_error(sdk::Error::invalid_input(model_path + "/config.json: the weights are already " +
                                                  (*already)->description + "; quantize the dense model"));
  }
  sdk::Result<model::ModelConfig> config = model::load_model_config(model_path);
  if (!config) return report_error(config.error());

  // The plugin's options, validated as a pipeline's quantization: section would be.
  const std::string plugin_name = four_bit ? "quant_nf4" : "quant_int8";
  sdk::Result<runtime::PluginRegistry> registry = discover_plugins();
  if (!registry) return report_error(registry.error());
  const runtime::LoadedPlugin* plugin = registry->find(plugin_name);
  if (plugin == nullptr || plugin->kind != sdk::StrategyKind::quantization) {
    return report_error(sdk::Error{sdk::ErrorCategory::plugin, "--method " + method + " needs the plugin '" + plugin_name +
                                                                   "', and none is installed (fthost plugins list)"});
  }
  YAML::Node section(YAML::NodeType::Map);
  if (four_bit) {
    section["quant_type"] = method;
    section["blocksize"] = blocksize;
    section["double_quant"] = variables.count("double-quant") > 0;
    if (!compute_dtype.empty()) section["compute_dtype"] = compute_dtype;
  } else {
    section["llm_int8_threshold"] = threshold;
  }
  for (auto [flag, key, modules] : {std::tuple{"target-modules", "target_modules", &target_modules},
                                     std::tuple{"skip-modules", "skip_modules", &skip_modules}}) {
    if (variables.count(flag) == 0) continue;
    YAML::Node list(YAML::NodeType::Sequence);
    for (const std::string& module : *modules) list.push_back(module);
    section[key] = list;
  }
  runtime::SectionCheck checked = runtime::check_section(section, plugin->plugin->options(), "quantize", "command line");
  if (!checked.errors.empty()) return report_errors(checked.errors);
  runtime::HostContext context(plugin->name, sdk::BackendKind::cpu, 0, 1, 0);
  sdk::Result<std::unique_ptr<sdk::Strategy>> created = sdk::create_strategy_safely(*plugin->plugin, checked.options, context);
  if (!created) return report_error(created.error());
  const auto& strategy = static_cast<const sdk::QuantizationStrategy&>(**created);
  sdk::Errors problems = strategy.check(model_facts(*config));
  if (!problems.empty()) {
    for (sdk::Error& problem : problems) problem.message = "plugin '" + plugin_name + "': " + problem.message;
    return report_errors(problems);
  }

  auto backend = backend::make_cpu_backend();
  auto loaded = model::load_transformer(model_path, *backend, nullptr, {&strategy, plugin_name});
  if (!loaded) return report_error(loaded.error());
  const model::QuantizedSites& quantized = *(*loaded)->quantized();
  auto saved = model::save_transformer(**loaded, out);
  if (!saved) return report_error(saved.error());
  auto copied = model::copy_tokenizer_files(model_path, out);
  if (!copied) return report_error(copied.error());
  std::int64_t weights = 0;
  for (const model::QuantizedSites::Site& site : quantized.sites()) weights += site.site.in_features * site.site.out_features;
  std::printf("wrote %s: %zu linear sites (%lld weights) quantized by %s: %.2f MiB instead of %.2f MiB in f32 "
              "(%.3f bits per weight)\n",
              out.c_str(), quantized.sites().size(), static_cast<long long>(weights), plugin_name.c_str(),
              static_cast<double>(quantized.stored_bytes()) / 1048576.0, static_cast<double>(weights) * 4.0 / 1048576.0,
              weights > 0 ? static_cast<double>(quantized.stored_bytes()) * 8.0 / static_cast<double>(weights) : 0.0);
  return exit_ok;
}

}  // namespace fthost::cli
