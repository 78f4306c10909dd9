#include "fthost/runtime/compose.hpp"

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <string_view>

#include <spdlog/spdlog.h>

#include "fthost/runtime/quantized_folder.hpp"
#include "fthost/sdk/plugin.hpp"
#include "model/linear_sites.hpp"
#include "model/model_config.hpp"
#include "model/parameters.hpp"

namespace fthost::runtime {
namespace {

using sdk::Error;

int read_positive_env(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names) {
    if (const char* text = std::getenv(name); text != nullptr && *text != '\0') {
      char* end = nullptr;
      long value = std::strtol(text, &end, 10);
      if (end != nullptr && *end == '\0' && value >= 0 && value < (1 << 24)) return static_cast<int>(value);
    }
  }
  return fallback;
}

// What the host requires of a quantization beside the rest of the pipeline: its weights are frozen,
// so something must train on top (an adapter); the output head stays dense (the chunked loss
// multiplies it); a module an adapter trains whole (modules_to_save) must not be quantized.
sdk::Errors check_quantization(const sdk::QuantizationStrategy& quantization, const ComposedPipeline& pipeline) {
  sdk::Errors errors;
  const StrategyChoice* adapter_choice = pipeline.spec.strategy(sdk::StrategyKind::adapter);
  if (adapter_choice == nullptr) {
    errors.push_back(Error::invalid_input(
        "quantized weights are frozen, so full fine-tuning cannot train them: add an adapter section "
        "(adapter: {plugin: lora, ...}) to train on top of them (QLoRA)"));
  }
  std::vector<std::string> saved_modules;
  for (const ComposedStrategy& composed : pipeline.strategies) {
    if (composed.strategy->kind() != sdk::StrategyKind::adapter) continue;
    try {
      saved_modules = static_cast<const sdk::AdapterStrategy&>(*composed.strategy).modules_to_save();
    } catch (const std::exception&) {
    }
  }
  for (const sdk::LinearSite& site : pipeline.facts.sites) {
    bool quantized = false;
    try {
      quantized = quantization.quantizes(site);
    } catch (const std::exception& failure) {
      return {Error::internal(std::string("plugin threw from quantizes(): ") + failure.what())};
    }
    if (!quantized) continue;
    if (site.is_output_head) {
      errors.push_back(Error::invalid_input("it would quantize the output head (" + site.name +
                                            "), which fthost keeps dense: keep it in skip_modules"));
    }
    for (const std::string& module : saved_modules) {
      if (sdk::site_name_matches(site.name, module)) {
        errors.push_back(Error::invalid_input("it quantizes " + site.name + ", which the adapter's modules_to_save ('" +
                                              module + "') trains whole: add it to skip_modules"));
      }
    }
  }
  return errors;
}

spdlog::level::level_enum to_spdlog(sdk::LogLevel level) {
  switch (level) {
    case sdk::LogLevel::trace: return spdlog::level::trace;
    case sdk::LogLevel::debug: return spdlog::level::debug;
    case sdk::LogLevel::info: return spdlog::level::info;
    case sdk::LogLevel::warn: return spdlog::level::warn;
    case sdk::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Each modules_to_save entry must name a module of the model (the host copies its parameters);
// PEFT fails later, at get_peft_model, for the same mistake.
sdk::Errors check_modules_to_save(const sdk::AdapterStrategy& adapter, const model::ParameterLayout& layout) {
  sdk::Errors errors;
  std::vector<std::string> modules;
  try {
    modules = adapter.modules_to_save();
  } catch (const std::exception& failure) {
    return {Error::internal(std::string("plugin threw from modules_to_save(): ") + failure.what())};
  }
  std::set<std::string> owners;
  for (const model::ParameterSpec& spec : layout.specs()) owners.emplace(model::parameter_module(spec.name));
  for (const std::string& module : modules) {
    bool found = false;
    for (const std::string& owner : owners) found = found || sdk::site_name_matches(owner, module);
    if (found) continue;
    std::string outside_layers;
    for (const std::string& owner : owners) {
      if (owner.find(".layers.") != std::string::npos || owner.find(".h.") != std::string::npos) continue;
      outside_layers += (outside_layers.empty() ? "" : ", ") + owner;
    }
    errors.push_back(Error::invalid_input("modules_to_save entry '" + module +
                                          "' matches no module of the model (besides the layers it has: " +
                                          outside_layers + ")"));
  }
  return errors;
}

}  // namespace

HostContext::HostContext(std::string plugin_name, sdk::BackendKind backend, int rank, int world_size,
                         std::uint64_t seed)
    : plugin_name_(std::move(plugin_name)), backend_(backend), rank_(rank), world_size_(world_size), seed_(seed) {}

void HostContext::log(sdk::LogLevel level, std::string_view message) const {
  spdlog::log(to_spdlog(level), "[{}] {}", plugin_name_, message);
}

LaunchRanks launch_ranks_from_environment() {
  LaunchRanks ranks;
  ranks.world_size = read_positive_env({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE"}, 1);
  ranks.rank = read_positive_env({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "RANK"}, 0);
  if (ranks.world_size < 1) ranks.world_size = 1;
  return ranks;
}

namespace {

// The first strategy of the pipeline (as "kind 'plugin'") whose checks pass on the CPU backend but
// not on CUDA; empty when none. model.backend auto then trains on the CPU rather than refusing.
std::string strategy_refusing_cuda(const ComposedPipeline& pipeline, const LaunchRanks& ranks, std::uint64_t seed) {
  sdk::PipelineFacts on_cuda = pipeline.facts;
  on_cuda.backend = sdk::BackendKind::cuda;
  sdk::PipelineFacts on_cpu = pipeline.facts;
  on_cpu.backend = sdk::BackendKind::cpu;
  for (const StrategyChoice& choice : pipeline.spec.strategies) {
    HostContext context(choice.plugin->name, sdk::BackendKind::cuda, ranks.rank, ranks.world_size, seed);
    sdk::Result<std::unique_ptr<sdk::Strategy>> created =
        sdk::create_strategy_safely(*choice.plugin->plugin, choice.options, context);
    if (!created || !*created) continue;  // reported when the pipeline is composed for real
    try {
      if (!(*created)->check(on_cuda).empty() && (*created)->check(on_cpu).empty()) {
        return std::string(sdk::to_string(choice.kind)) + " '" + choice.plugin->name + "'";
      }
    } catch (const std::exception&) {
      // a throwing check() is reported when the pipeline is composed for real
    }
  }
  return {};
}

}  // namespace

Composition compose_pipeline(PipelineSpec spec) {
  Composition composition;
  composition.pipeline = std::make_unique<ComposedPipeline>();
  ComposedPipeline& pipeline = *composition.pipeline;
  pipeline.spec = std::move(spec);

  // Text data is tokenized with the model's own tokenizer.json; token JSONL needs none.
  const std::string& format = pipeline.spec.data.get_string("format");
  std::error_code missing;
  const bool text_files = pipeline.spec.train_data_path.extension() == ".txt" ||
                          pipeline.spec.eval_data_path.extension() == ".txt";
  const bool needs_tokenizer = format == "auto" ? text_files : format != "tokens";
  if (needs_tokenizer && !pipeline.spec.model_path.empty() &&
      !std::filesystem::exists(pipeline.spec.model_path / "tokenizer.json", missing)) {
    composition.errors.push_back(Error::invalid_input(
        pipeline.spec.file.string() + ": data.format: " + format + " is tokenized with the model's tokenizer.json, and " +
        (pipeline.spec.model_path / "tokenizer.json").string() + " does not exist"));
  }
  if (format == "tokens" && pipeline.spec.data.get_bool("skip_bad_lines")) {
    composition.errors.push_back(Error::not_implemented(pipeline.spec.file.string() +
                                                        ": data.skip_bad_lines is implemented for text formats, not "
                                                        "for token JSONL yet"));
  }
  LaunchRanks ranks = launch_ranks_from_environment();
  pipeline.facts.world_size = ranks.world_size;
  if (ranks.world_size > 1) {
    composition.errors.push_back(Error::not_implemented(
        "world size " + std::to_string(ranks.world_size) +
        " (from the launcher's environment): multi-rank training is not implemented yet; run one process"));
  }
  // The model's shape and linear sites, from config.json alone (no weights), so strategies can
  // check themselves against the model before anything heavy happens.
  std::optional<model::ParameterLayout> model_layout;
  bool head_tied = false;
  if (!pipeline.spec.model_path.empty()) {
    sdk::Result<model::ModelConfig> config = model::load_model_config(pipeline.spec.model_path);
    if (!config) {
      composition.errors.push_back(config.error());
    } else {
      pipeline.facts.model = sdk::ModelShape{config->num_layers,   config->hidden_size,       config->num_heads,
                                             config->num_kv_heads, config->intermediate_size, config->vocab_size};
      pipeline.facts.sites = model::linear_sites(*config);
      model_layout.emplace(*config);
      head_tied = config->tie_word_embeddings;
    }
  }

  if (!pipeline.spec.model_path.empty() && pipeline.spec.strategy(sdk::StrategyKind::quantization) == nullptr) {
    sdk::Result<std::optional<FolderQuantization>> quantized = folder_quantization(pipeline.spec.model_path);
    if (quantized && *quantized) {
      composition.errors.push_back(Error::invalid_input(
          (pipeline.spec.model_path / "config.json").string() + ": the weights are " + (*quantized)->description +
          "; name the plugin that reads them in the pipeline (quantization: {plugin: " + (*quantized)->plugin +
          ", ...}) with the folder's settings"));
    }
  }

  auto seed = static_cast<std::uint64_t>(pipeline.spec.training.get_int("seed"));
  const std::string& requested_backend = pipeline.spec.model.get_string("backend");
  pipeline.backend = backend::resolve_backend(requested_backend);
  if (!pipeline.backend.problem.empty()) {
    composition.errors.push_back(Error::invalid_input(pipeline.spec.file.string() + ": model.backend: " +
                                                      requested_backend + ", but " + pipeline.backend.problem));
  }
  pipeline.facts.backend = pipeline.backend.kind;
  if (requested_backend == "auto" && pipeline.backend.kind == sdk::BackendKind::cuda) {
    if (std::string refusing = strategy_refusing_cuda(pipeline, ranks, seed); !refusing.empty()) {
      pipeline.backend = backend::resolve_backend("cpu");
      pipeline.backend.description += " (model.backend auto: " + refusing + " runs on the CPU only)";
      pipeline.facts.backend = pipeline.backend.kind;
    }
  }
  for (const StrategyChoice& choice : pipeline.spec.strategies) {
    ComposedStrategy composed;
    composed.choice = &choice;
    composed.context =
        std::make_unique<HostContext>(choice.plugin->name, pipeline.facts.backend, ranks.rank, ranks.world_size, seed);
    sdk::Result<std::unique_ptr<sdk::Strategy>> created =
        sdk::create_strategy_safely(*choice.plugin->plugin, choice.options, *composed.context);
    if (!created) {
      composition.errors.push_back({created.error().category, choice.location + ": " +
                                                                  std::string(sdk::to_string(choice.kind)) + " '" +
                                                                  choice.plugin->name + "': " + created.error().message});
      continue;
    }
    if (!*created || (*created)->kind() != choice.kind) {
      composition.errors.push_back(Error::internal(choice.location + ": plugin '" + choice.plugin->name +
                                                   "' created no strategy of kind " +
                                                   std::string(sdk::to_string(choice.kind))));
      continue;
    }
    composed.strategy = std::move(*created);
    pipeline.strategies.push_back(std::move(composed));
  }

  for (const ComposedStrategy& composed : pipeline.strategies) {
    // Plugins return errors as values; an exception from one (a bug in it) is caught here and
    // named, instead of unwinding to main as an anonymous internal error.
    sdk::Errors problems;
    try {
      problems = composed.strategy->check(pipeline.facts);
    } catch (const std::exception& failure) {
      problems.push_back(Error::internal(std::string("plugin threw from check(): ") + failure.what()));
    } catch (...) {
      problems.push_back(Error::internal("plugin threw a non-standard exception from check()"));
    }
    if (composed.strategy->kind() == sdk::StrategyKind::adapter && head_tied) {
      const auto& adapter = static_cast<const sdk::AdapterStrategy&>(*composed.strategy);
      for (const sdk::LinearSite& site : pipeline.facts.sites) {
        bool targeted = false;
        try {
          targeted = site.is_output_head && adapter.targets(site);
        } catch (const std::exception&) {
        }
        if (targeted) {
          problems.push_back(Error::invalid_input("target_modules include the output head (" + site.name +
                                                  "), which this model ties to its input embedding "
                                                  "(tie_word_embeddings): leave it out"));
        }
      }
    }
    if (composed.strategy->kind() == sdk::StrategyKind::quantization) {
      for (Error& problem : check_quantization(static_cast<const sdk::QuantizationStrategy&>(*composed.strategy),
                                               pipeline)) {
        problems.push_back(std::move(problem));
      }
    }
    if (composed.strategy->kind() == sdk::StrategyKind::adapter && model_layout) {
      for (Error& problem : check_modules_to_save(static_cast<const sdk::AdapterStrategy&>(*composed.strategy),
                                                  *model_layout)) {
        problems.push_back(std::move(problem));
      }
    }
    for (const Error& problem : problems) {
      composition.errors.push_back({problem.category, composed.choice->location + ": " +
                                                          std::string(sdk::to_string(composed.choice->kind)) + " '" +
                                                          composed.choice->plugin->name + "': " + problem.message});
    }
  }
  return composition;
}

std::vector<std::string> describe_plan(const ComposedPipeline& pipeline) {
  const PipelineSpec& spec = pipeline.spec;
  std::vector<std::string> lines;
  lines.push_back("pipeline  " + spec.file.string());
  lines.push_back("model     " + spec.model_path.string() + " on " + pipeline.backend.description +
                  ", world size " + std::to_string(pipeline.facts.world_size));
  std::string data_line = "data      " + spec.train_data_path.string() + " (" + spec.data.get_string("format") +
                          "), seq_len " + std::to_string(spec.data.get_int("seq_len")) +
                          (spec.data.get_bool("packing") ? ", packed" : ", padded");
  if (!spec.eval_data_path.empty()) data_line += ", eval " + spec.eval_data_path.string();
  lines.push_back(data_line);
  const sdk::Options& training = spec.training;
  std::string length = training.get_int("max_steps") > 0 ? std::to_string(training.get_int("max_steps")) + " steps"
                                                         : std::to_string(training.get_int("epochs")) + " epoch(s)";
  lines.push_back("training  " + length + ", micro-batch " + std::to_string(training.get_int("micro_batch_size")) +
                  " x accumulation " + std::to_string(training.get_int("gradient_accumulation_steps")) +
                  ", AdamW lr " + sdk::format_option_value(training.values().at("learning_rate")) + " (" +
                  training.get_string("lr_scheduler") + ", warmup " + std::to_string(training.get_int("warmup_steps")) +
                  "), seed " + std::to_string(training.get_int("seed")));
  lines.push_back("output    " + spec.output_dir.string());
  if (spec.strategy(sdk::StrategyKind::adapter) == nullptr) lines.emplace_back("method    full fine-tuning");
  for (const ComposedStrategy& composed : pipeline.strategies) {
    std::string label(sdk::to_string(composed.choice->kind));
    std::vector<std::string> plan;
    try {
      plan = composed.strategy->describe_plan(pipeline.facts);
    } catch (const std::exception& failure) {
      plan = {composed.choice->plugin->name + " could not describe its plan (plugin error: " + failure.what() + ")"};
    }
    for (const std::string& line : plan) lines.push_back(label + ": " + line);
  }
  return lines;
}

}  // namespace fthost::runtime
