// `fthost init-model` and `fthost eval`: make a model folder, measure a model on data.

#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/select_backend.hpp"
#include "cli.hpp"
#include "command_options.hpp"
#include "fthost/runtime/adapter_folder.hpp"
#include "model/adapter_io.hpp"
#include "model/linear_sites.hpp"
#include "model/model_weights.hpp"
#include "train/training_run.hpp"

namespace po = boost::program_options;

namespace fthost::cli {

sdk::PipelineFacts model_facts(const model::ModelConfig& config) {
  sdk::PipelineFacts facts;
  facts.model = sdk::ModelShape{config.num_layers,   config.hidden_size,       config.num_heads,
                                config.num_kv_heads, config.intermediate_size, config.vocab_size};
  facts.sites = model::linear_sites(config);
  return facts;
}

sdk::Result<runtime::LoadedAdapterStrategy> attach_adapter_folder(model::Transformer& transformer,
                                                                  const std::string& model_folder,
                                                                  const std::filesystem::path& folder) {
  sdk::Result<runtime::PluginRegistry> registry = discover_plugins();
  if (!registry) return registry.error();
  const sdk::PipelineFacts facts = model_facts(transformer.config());
  sdk::Result<runtime::LoadedAdapterStrategy> loaded = runtime::load_adapter_strategy(folder, *registry, facts);
  if (!loaded) return loaded.error();
  sdk::Result<bool> attached = train::attach_adapter(transformer, loaded->adapter(), loaded->plugin.name, model_folder);
  if (!attached) return attached.error();
  sdk::Result<bool> weights = model::load_adapter_weights(*transformer.adapters(), folder, &transformer.parameters());
  if (!weights) return weights.error();
  return loaded;
}

sdk::Result<LoadedModel> load_model_for_use(const std::string& model_path, const std::string& adapter_path,
                                            const std::string& backend_name) {
  LoadedModel loaded;
  backend::BackendResolution resolution = backend::resolve_backend(backend_name);
  if (!resolution.problem.empty()) return sdk::Error::invalid_input("--backend " + backend_name + ": " + resolution.problem);
  model::QuantizationChoice quantization;
  sdk::Result<std::optional<runtime::FolderQuantization>> quantized = runtime::folder_quantization(model_path);
  if (!quantized) return quantized.error();
  if (*quantized && resolution.kind != sdk::BackendKind::cpu) {
    if (backend_name != "auto") {
      return sdk::Error::not_implemented("--backend " + backend_name + ": " + model_path + " holds " +
                                         (*quantized)->description + " weights, which " + (*quantized)->plugin +
                                         " reads on the CPU only in this version; use --backend cpu");
    }
    resolution = backend::resolve_backend("cpu");
  }
  loaded.backend = backend::make_backend(resolution);
  if (*quantized) {
    sdk::Result<model::ModelConfig> config = model::load_model_config(model_path);
    if (!config) return config.error();
    sdk::Result<runtime::PluginRegistry> registry = discover_plugins();
    if (!registry) return registry.error();
    auto strategy = runtime::load_folder_quantization(model_path, *registry, model_facts(*config));
    if (!strategy) return strategy.error();
    loaded.quantization = std::move(**strategy);
    quantization.strategy = &loaded.quantization->quantization();
    quantization.plugin = loaded.quantization->plugin.name;
  }
  auto model = model::load_transformer(model_path, *loaded.backend, nullptr, quantization);
  if (!model) return model.error();
  loaded.model = std::move(*model);
  if (!adapter_path.empty()) {
    auto attached = attach_adapter_folder(*loaded.model, model_path, adapter_path);
    if (!attached) return attached.error();
    loaded.adapter = std::move(*attached);
  }
  return loaded;
}

int run_init_model_command(const Arguments& arguments) {
  std::string config_path;
  std::string out;
  std::uint64_t seed = 0;
  po::options_description options("init-model options");
  options.add_options()("help,h", "show this help")("config", po::value(&config_path)->required(),
                                                     "a Hugging Face config.json (llama, mistral, qwen2, gpt2)")(
      "out", po::value(&out)->required(), "folder to write: config.json + model.safetensors")(
      "seed", po::value(&seed)->default_value(0), "seed of the random initialisation");
  po::variables_map variables;
  if (auto done = parse_options(arguments, options,
                                "usage: fthost init-model --config CONFIG.json --out DIR [--seed N]\n\n"
                                "Writes a randomly initialised model (Hugging Face's initialisation) as a model folder, with the\n"
                                "tokenizer files (tokenizer.json, tokenizer_config.json) found beside the config.\n",
                                variables)) {
    return *done;
  }
  std::ifstream stream(config_path);
  if (!stream) return report_error(sdk::Error::invalid_input(config_path + ": cannot read"));
  std::stringstream text;
  text << stream.rdbuf();
  sdk::Result<model::ModelConfig> config = model::parse_model_config(text.str(), config_path);
  if (!config) return report_error(config.error());
  auto backend = backend::make_cpu_backend();
  model::Transformer transformer(*config, *backend);
  model::initialize_transformer(transformer, seed);
  auto saved = model::save_transformer(transformer, out);
  if (!saved) return report_error(saved.error());
  // A model folder is used with its tokenizer: bring the tokenizer files that sit beside the config.
  auto copied = model::copy_tokenizer_files(std::filesystem::path(config_path).parent_path(), out);
  if (!copied) return report_error(copied.error());
  std::cout << "wrote " << out << ": " << config->model_type << ", " << transformer.layout().total_elements()
            << " parameters (f32), seed " << seed;
  if (!copied->empty()) std::cout << "; with " << copied->front() << (copied->size() > 1 ? " and its config" : "");
  std::cout << "\n";
  return exit_ok;
}

int run_eval_command(const Arguments& arguments) {
  std::string model_path;
  std::string data_path;
  std::int64_t seq_len = 0;
  std::int64_t batch_size = 4;
  std::string format = "auto";
  std::string chat_template = "chatml";
  std::string backend_name = "auto";
  std::string adapter_path;
  po::options_description options("eval options");
  options.add_options()("help,h", "show this help")("model", po::value(&model_path)->required(),
                                                     "Hugging Face model folder")(
      "adapter", po::value(&adapter_path), "adapter folder (PEFT's layout, from fthost or PEFT) applied to the model")(
      "backend", po::value(&backend_name)->default_value("auto"),
      "auto | cpu | cuda: where to run (auto: the GPU when this build has the CUDA backend and one is present)")(
      "data", po::value(&data_path)->required(), "data file (see --format)")(
      "format", po::value(&format)->default_value("auto"),
      "tokens | text | jsonl | instruction | chat | auto, as data.format in a pipeline; text formats use the model's "
      "tokenizer.json")("chat-template", po::value(&chat_template)->default_value("chatml"),
                        "for --format chat: chatml, llama3 or a per-message template")(
      "json", "print {\"loss\":..., \"perplexity\":..., \"tokens\":...}")(
      "seq-len", po::value(&seq_len)->default_value(0), "row length; 0: the model's max_position_embeddings")(
      "batch-size", po::value(&batch_size)->default_value(4), "rows per forward pass");
  po::variables_map variables;
  if (auto done = parse_options(arguments, options,
                                "usage: fthost eval --model DIR [--adapter DIR] --data FILE [--format F] [--json] [--seq-len N]\n"
                                "                   [--batch-size N]\n\n"
                                "Mean next-token loss and perplexity over every prediction inside each document\n"
                                "(never across documents; for instruction and chat data only the trained tokens:\n"
                                "completions, assistant turns). tokens = the number of predictions.\n",
                                variables)) {
    return *done;
  }
  if (batch_size < 1) return report_error(sdk::Error::invalid_input("command line: --batch-size must be at least 1"));
  auto loaded = load_model_for_use(model_path, adapter_path, backend_name);
  if (!loaded) return report_error(loaded.error());
  model::Transformer& transformer = *loaded->model;
  if (seq_len <= 0) seq_len = transformer.config().max_position_embeddings;
  const std::vector<std::string> formats = {"auto", "tokens", "text", "jsonl", "instruction", "chat"};
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    return report_error(sdk::Error::invalid_input("command line: --format must be one of auto, tokens, text, jsonl, "
                                                  "instruction, chat; got '" + format + "'"));
  }
  data::TextDatasetOptions text_options;
  text_options.chat_template = chat_template;
  auto dataset = train::load_documents(data_path, format, model_path, transformer.config().vocab_size, text_options);
  if (!dataset) return report_error(dataset.error());
  auto result = train::evaluate_documents(transformer, *dataset, data_path, seq_len, batch_size);
  if (!result) return report_error(result.error());
  if (variables.count("json") > 0) {
    std::printf("{\"loss\": %.17g, \"perplexity\": %.17g, \"tokens\": %lld}\n", result->loss, result->perplexity,
                static_cast<long long>(result->predictions));
  } else {
    std::printf("loss %.6f  perplexity %.4f  tokens %lld\n", result->loss, result->perplexity,
                static_cast<long long>(result->predictions));
  }
  return exit_ok;
}

int run_merge_command(const Arguments& arguments) {
  std::string model_path;
  std::string adapter_path;
  std::string out;
  po::options_description options("merge options");
  options.add_options()("help,h", "show this help")("model", po::value(&model_path)->required(),
                                                     "the base model folder the adapter was trained on")(
      "adapter", po::value(&adapter_path)->required(), "adapter folder (PEFT's layout, from fthost or PEFT)")(
      "out", po::value(&out)->required(), "folder to write: config.json + model.safetensors + tokenizer files");
  po::variables_map variables;
  if (auto done = parse_options(arguments, options,
                                "usage: fthost merge --model DIR --adapter DIR --out DIR\n\n"
                                "Folds the adapter into the base weights (LoRA: W += lora_alpha / r * B @ A, as PEFT's\n"
                                "merge_and_unload does) and writes a plain Hugging Face model folder whose outputs\n"
                                "equal base + adapter. A quantized base (fthost quantize, bitsandbytes) is dequantized\n"
                                "first: the merged folder is dense f32.\n",
                                variables)) {
    return *done;
  }
  std::error_code error;
  if (std::filesystem::equivalent(model_path, out, error)) {
    return report_error(sdk::Error::invalid_input("command line: --out " + out +
                                                  " is the base model's folder; merge into a new folder"));
  }
  auto loaded = load_model_for_use(model_path, adapter_path, "cpu");
  if (!loaded) return report_error(loaded.error());
  model::Transformer& transformer = *loaded->model;
  // A quantized base merges into its dequantized weights: the merged model is dense (f32).
  std::unique_ptr<model::Transformer> dense;
  if (transformer.quantized() != nullptr) {
    try {
      dense = model::dense_copy(transformer);
    } catch (const std::exception& failure) {
      return report_error(sdk::Error::internal(failure.what()));
    }
  }
  model::Transformer& target = dense ? *dense : transformer;
  try {
    transformer.adapters()->merge_into(target.parameters());
  } catch (const std::exception& failure) {
    return report_error(sdk::Error::internal(failure.what()));
  }
  const std::size_t merged_sites = transformer.adapters()->sites().size();
  transformer.attach_adapters(nullptr);
  auto saved = model::save_transformer(target, out);
  if (!saved) return report_error(saved.error());
  auto copied = model::copy_tokenizer_files(model_path, out);
  if (!copied) return report_error(copied.error());
  std::cout << "wrote " << out << ": " << transformer.config().model_type << " with " << loaded->adapter->plugin.name
            << " merged into " << merged_sites << " linear sites"
            << (dense ? " (the quantized base dequantized: the merged model is dense f32)" : "") << "\n";
  return exit_ok;
}

}  // namespace fthost::cli
