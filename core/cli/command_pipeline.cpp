// `fthost validate FILE [key=value ...]`, `fthost run FILE [key=value ...]` and `fthost sections`.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli.hpp"
#include "progress.hpp"
#include "fthost/runtime/compose.hpp"
#include "fthost/runtime/host_schema.hpp"
#include "fthost/runtime/pipeline.hpp"
#include "option_printer.hpp"
#include "train/training_run.hpp"

namespace fthost::cli {
namespace {

constexpr std::string_view validate_usage =
    "usage: fthost validate PIPELINE.yaml [key.path=value ...] [~key.path ...]\n"
    "\n"
    "Checks a pipeline without loading weights or data: every key of every section against the host's\n"
    "and the named plugins' option schemas (unknown keys, types, ranges, required keys), that the model\n"
    "folder, its config.json (and tokenizer.json for text data) and the data files are there, and that\n"
    "each strategy accepts this model, backend and world size.\n"
    "Overrides edit the pipeline before validation: training.learning_rate=3e-4, adapter.r=16,\n"
    "adapter.target_modules=[q_proj,v_proj]; ~adapter removes a key or a whole section.\n"
    "Prints 'valid' and exits 0, or prints one line per problem and exits 2 (bad input),\n"
    "3 (plugin problem) or 4 (not available in this build).\n";

constexpr std::string_view run_usage =
    "usage: fthost run PIPELINE.yaml [key.path=value ...] [~key.path ...] [--resume [latest|CHECKPOINT]]\n"
    "\n"
    "Validates the pipeline (see `fthost validate --help`), prints the plan, then trains on the CPU backend\n"
    "in fp32 (bf16 / fp16 with a precision: section): the whole model, or with an adapter: section (e.g.\n"
    "plugin: lora) only the adapter, the base frozen. One line per logged step (loss, learning rate,\n"
    "gradient norm, tokens/s, memory).\n"
    "Training data follows data.format: token JSONL, or text / {\"text\"} JSONL / instructions /\n"
    "chats tokenized with the model folder's tokenizer.json (see `fthost sections`).\n"
    "Writes to output.dir: metrics.jsonl (one JSON line per step and evaluation), checkpoints/step-N/\n"
    "every output.save_every steps and at the end (the last output.keep_last kept; each written to a\n"
    "temporary folder and renamed, so a crash never corrupts the previous one), and final/: the model\n"
    "as a Hugging Face folder, or with an adapter the adapter as PEFT saves it (adapter_config.json +\n"
    "adapter_model.safetensors; use it with `fthost eval --adapter` or `fthost merge`); also tensorboard/\n"
    "(event files for `tensorboard --logdir`) and, at the end, report.html (loss and lr curves, settings).\n"
    "On a terminal a progress bar shows step, loss, lr, tokens/s, ETA and memory.\n"
    "--resume continues from the newest checkpoint (or the one named) with the\n"
    "same data order, optimizer state and schedule: the losses equal those of an uninterrupted run.\n";

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
  // Declared first so it is destroyed last: the pipeline's strategy choices point into it.
  std::optional<runtime::PluginRegistry> registry;
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
  result.registry = std::move(*registry);
  runtime::PipelineLoad load = runtime::load_pipeline(arguments[0], overrides, *result.registry);
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
  // --resume [latest|CHECKPOINT] may stand anywhere after the pipeline file.
  Arguments pipeline_arguments;
  std::optional<std::string> resume;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].starts_with("--resume=")) {
      resume = arguments[i].substr(std::string("--resume=").size());
      continue;
    }
    if (arguments[i] != "--resume") {
      pipeline_arguments.push_back(arguments[i]);
      continue;
    }
    if (pipeline_arguments.empty()) {
      return report_error(sdk::Error::invalid_input(
          "command line: --resume comes after the pipeline file: fthost run PIPELINE.yaml --resume [latest|CHECKPOINT]"));
    }
    const bool has_value = i + 1 < arguments.size() && arguments[i + 1].find('=') == std::string::npos &&
                           !arguments[i + 1].starts_with("~") && !arguments[i + 1].starts_with("-");
    resume = has_value ? arguments[++i] : "latest";
  }
  Validated validated = validate_pipeline(pipeline_arguments, "run");
  if (!validated.errors.empty()) return report_errors(validated.errors);
  std::cout << "Plan\n";
  for (const std::string& line : runtime::describe_plan(*validated.pipeline)) std::cout << "  " << line << "\n";
  std::cout << std::endl;

  const std::int64_t log_every = validated.pipeline->spec.training.get_int("log_every");
  train::RunObserver observer;
  ProgressDisplay progress(ProgressDisplay::stdout_is_terminal());
  observer.info = [&progress](const std::string& line) { progress.line(line); };
  observer.on_step = [&progress, log_every](const train::StepRecord& record, std::int64_t total_steps) {
    std::string log_line;
    if (record.step % log_every == 0 || record.step == total_steps || record.step == 1) {
      char text[200];
      std::snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  lr %.3e  grad-norm %.3f  %.0f tok/s  mem %.1f MiB (peak %.1f)",
                    static_cast<long long>(record.step), static_cast<long long>(total_steps), record.loss,
                    record.learning_rate, record.gradient_norm,
                    static_cast<double>(record.tokens) / std::max(record.seconds, 1e-9),
                    static_cast<double>(record.memory.current_bytes) / 1048576.0,
                    static_cast<double>(record.memory.peak_bytes) / 1048576.0);
      log_line = text;
      if (record.loss_scale != 1.0) log_line += "  scale " + std::to_string(static_cast<long long>(record.loss_scale));
    }
    if (record.skipped) {
      log_line = "step " + std::to_string(record.step) + "/" + std::to_string(total_steps) +
                 " skipped: fp16 gradients overflowed at loss scale " +
                 std::to_string(static_cast<long long>(record.loss_scale)) + " (no update; the scaler adapts)";
    }
    progress.step(record, total_steps, log_line);
  };
  observer.on_eval = [&progress](const train::EvalResult& result, std::int64_t step) {
    char text[160];
    std::snprintf(text, sizeof text, "eval at step %lld: loss %.4f  perplexity %.3f  (%lld predictions)",
                  static_cast<long long>(step), result.loss, result.perplexity,
                  static_cast<long long>(result.predictions));
    progress.line(text);
  };
  sdk::Result<train::RunSummary> summary = train::run_training(*validated.pipeline, observer, {resume});
  progress.finish();
  if (!summary) return report_error(summary.error());
  std::printf("trained %lld steps in %.1f s: loss %.4f -> %.4f; model saved to %s\n",
              static_cast<long long>(summary->steps), summary->seconds, summary->first_loss, summary->last_loss,
              summary->final_model.string().c_str());
  std::printf("report: %s; metrics: %s; TensorBoard: tensorboard --logdir %s\n", summary->report.string().c_str(),
              (summary->report.parent_path() / "metrics.jsonl").string().c_str(),
              (summary->report.parent_path() / "tensorboard").string().c_str());
  return exit_ok;
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
