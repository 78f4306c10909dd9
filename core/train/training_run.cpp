#include "train/training_run.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <cmath>
#include <map>

#include "backend/select_backend.hpp"
#include "data/text_dataset.hpp"
#include "data/tokenizer.hpp"
#include "data/token_cache.hpp"
#include "model/adapter_io.hpp"
#include "model/model_weights.hpp"
#include "train/checkpoint.hpp"
#include "train/metrics.hpp"
#include "train/report.hpp"

namespace fthost::train {
namespace {

using sdk::Error;

DecayShape decay_shape(const std::string& name) {
  if (name == "linear") return DecayShape::linear;
  if (name == "cosine") return DecayShape::cosine;
  return DecayShape::constant;
}

// What a resumed run must share with the checkpointed one for its losses to be the same.
std::map<std::string, std::string> run_settings(const runtime::PipelineSpec& spec, std::size_t rows_per_epoch) {
  std::map<std::string, std::string> settings;
  for (const auto& [section, options] : {std::pair{"training", &spec.training}, std::pair{"data", &spec.data}}) {
    for (const auto& [key, value] : options->values()) {
      // Logging and evaluation cadence, the run length (checked through total_steps) and the eval
      // file do not change the training losses.
      if (key == "log_every" || key == "eval_every" || key == "eval" || key == "max_steps" || key == "epochs" ||
          key == "tokenized_cache") {
        continue;
      }
      settings[std::string(section) + "." + key] = sdk::format_option_value(value);
    }
  }
  // The strategies shape the trajectory too: their plugin and every option.
  for (const runtime::StrategyChoice& choice : spec.strategies) {
    const std::string section(sdk::to_string(choice.kind));
    settings[section + ".plugin"] = choice.plugin != nullptr ? choice.plugin->name : "";
    for (const auto& [key, value] : choice.options.values()) settings[section + "." + key] = sdk::format_option_value(value);
  }
  std::error_code error;
  settings["data.train_bytes"] = std::to_string(std::filesystem::file_size(spec.train_data_path, error));
  settings["data.rows_per_epoch"] = std::to_string(rows_per_epoch);
  return settings;
}

// Token limits of the model that a pipeline can exceed only at run time.
sdk::Result<bool> check_sequence_length(const model::ModelConfig& config, std::int64_t seq_len, const std::string& what) {
  if (config.architecture == model::Architecture::gpt2 && seq_len > config.max_position_embeddings) {
    return Error::invalid_input(what + " (" + std::to_string(seq_len) + ") exceeds the model's n_positions (" +
                                std::to_string(config.max_position_embeddings) + " in config.json)");
  }
  return true;
}

// Where tokens go when they are not cached: a file in the temporary folder ($TMPDIR), unlinked
// once mapped, so that it is gone when the run ends; in memory if no such file can be made.
data::TokenStoreWriter temporary_token_store() {
  std::error_code error;
  const std::filesystem::path folder = std::filesystem::temp_directory_path(error);
  if (error) return {};
  sdk::Result<data::TokenStoreWriter> store = data::TokenStoreWriter::to_temporary_file(folder);
  if (!store) return {};
  return std::move(*store);
}

const runtime::ComposedStrategy* find_strategy(const runtime::ComposedPipeline& pipeline, sdk::StrategyKind kind) {
  for (const runtime::ComposedStrategy& composed : pipeline.strategies) {
    if (composed.strategy && composed.strategy->kind() == kind) return &composed;
  }
  return nullptr;
}

}  // namespace

sdk::Result<bool> attach_adapter(model::Transformer& model, const sdk::AdapterStrategy& strategy,
                                 const std::string& plugin, const std::string& base_model) {
  try {
    auto adapters = std::make_unique<model::SiteAdapters>(strategy, plugin, model.linear_sites(), model.layout(),
                                                          model.backend());
    if (adapters->sites().empty()) {
      return Error::invalid_input("adapter plugin '" + plugin + "' targets none of the model's linear sites");
    }
    adapters->set_base_model(base_model);
    model.attach_adapters(std::move(adapters));
  } catch (const std::exception& failure) {
    return Error::invalid_input(failure.what());
  }
  return true;
}

sdk::Result<data::TokenDataset> load_documents(const std::filesystem::path& file, const std::string& format,
                                               const std::filesystem::path& model_folder, std::int64_t vocab_size,
                                               const data::TextDatasetOptions& options, const TokenCacheUse& cache) {
  const std::filesystem::path tokenizer_file = model_folder / "tokenizer.json";
  std::error_code missing;
  const bool has_tokenizer = std::filesystem::exists(tokenizer_file, missing);
  if (format == "tokens" || (format == "auto" && !has_tokenizer && file.extension() != ".txt")) {
    return data::load_token_jsonl(file, vocab_size, temporary_token_store());
  }
  if (!has_tokenizer) {
    return Error::invalid_input(file.string() + ": text data is tokenized with the model's tokenizer.json, and " +
                                tokenizer_file.string() + " does not exist");
  }
  sdk::Result<data::Tokenizer> tokenizer = data::Tokenizer::load(tokenizer_file);
  if (!tokenizer) return tokenizer.error();
  if (tokenizer->vocab_size() > vocab_size) {
    return Error::invalid_input(tokenizer_file.string() + ": the tokenizer has ids up to " +
                                std::to_string(tokenizer->vocab_size() - 1) + ", the model's vocab_size is " +
                                std::to_string(vocab_size) + " (config.json)");
  }
  if (!cache.enabled) return data::load_text_dataset(file, format, *tokenizer, options, temporary_token_store());

  // Everything the tokens depend on; "v1" changes when the tokenizer's behaviour in fthost does.
  const std::string settings = "fthost-tokens-v1|" + format + "|" + std::to_string(options.skip_bad_lines) + "|" +
                               options.chat_template + "|" + options.chat_template_begin + "|" +
                               std::to_string(vocab_size);
  sdk::Result<std::string> key =
      data::token_cache_key({file, tokenizer_file, model_folder / "tokenizer_config.json"}, settings);
  if (!key) return key.error();
  const std::filesystem::path cache_file = cache.folder / (*key + ".tokens");
  if (std::optional<data::TokenDataset> cached = data::read_token_cache(cache_file)) {
    if (cache.note != nullptr) *cache.note = "read from the tokenized cache " + cache_file.string();
    return std::move(*cached);
  }
  // The tokens are written into the cache file as they are made. The cache only saves time: a
  // run does not fail because it cannot create one (the tokens go to a temporary store instead).
  sdk::Result<data::TokenStoreWriter> store = data::TokenStoreWriter::to_file(cache_file);
  if (!store) {
    if (cache.note != nullptr) *cache.note = "tokenized (not cached: " + store.error().message + ")";
    return data::load_text_dataset(file, format, *tokenizer, options, temporary_token_store());
  }
  sdk::Result<data::TokenDataset> dataset = data::load_text_dataset(file, format, *tokenizer, options, std::move(*store));
  if (dataset && cache.note != nullptr) *cache.note = "tokenized and cached in " + cache_file.string();
  return dataset;
}

sdk::Result<EvalResult> evaluate_documents(model::Transformer& model, const data::TokenDataset& dataset,
                                           const std::filesystem::path& file, std::int64_t seq_len,
                                           std::int64_t micro_batch_size) {
  if (auto fits = check_sequence_length(model.config(), seq_len, "sequence length"); !fits) return fits.error();
  const data::PackedRows rows = data::pack_rows(dataset, seq_len, /*packing=*/true);
  EvalResult result;
  double loss_sum = 0.0;
  for (std::size_t first = 0; first < rows.size(); first += static_cast<std::size_t>(micro_batch_size)) {
    model::HostBatch host;
    host.seq_len = seq_len;
    for (std::size_t row = first; row < std::min(rows.size(), first + static_cast<std::size_t>(micro_batch_size)); ++row) {
      rows.add_to(host, row);
    }
    model::Batch batch = model::upload_batch(model.backend(), host);
    loss_sum += model.loss_sum(batch);
    result.predictions += batch.target_count;
  }
  if (result.predictions == 0) {
    return Error::invalid_input(file.string() + ": no next-token predictions at seq_len " + std::to_string(seq_len) +
                                " (each document needs at least 2 tokens in a row)");
  }
  result.loss = loss_sum / static_cast<double>(result.predictions);
  result.perplexity = std::exp(result.loss);
  return result;
}

sdk::Result<RunSummary> run_training(const runtime::ComposedPipeline& pipeline, const RunObserver& observer,
                                     const RunOptions& options) {
  auto started = std::chrono::steady_clock::now();
  const runtime::PipelineSpec& spec = pipeline.spec;
  backend::Backend& backend = backend::shared_backend(pipeline.backend);
  const std::filesystem::path checkpoints = spec.output_dir / "checkpoints";

  // Resuming: the checkpoint's weights replace model.path's; its state says where to continue.
  std::optional<std::filesystem::path> resume_from;
  std::optional<TrainerState> resumed;
  std::error_code fs_error;
  if (!options.resume && (find_latest_checkpoint(checkpoints) ||
                          std::filesystem::exists(spec.output_dir / "metrics.jsonl", fs_error))) {
    return Error::invalid_input("output.dir " + spec.output_dir.string() +
                                " already holds a run (checkpoints or metrics.jsonl): continue it with --resume, or "
                                "choose a new output.dir");
  }
  if (options.resume) {
    if (*options.resume == "latest") {
      resume_from = find_latest_checkpoint(checkpoints);
      if (!resume_from) {
        return Error::invalid_input(checkpoints.string() + ": no checkpoint to resume from (--resume latest)");
      }
    } else {
      resume_from = std::filesystem::path(*options.resume);
    }
    sdk::Result<TrainerState> state = read_trainer_state(*resume_from);
    if (!state) return state.error();
    if (state->seed != static_cast<std::uint64_t>(spec.training.get_int("seed"))) {
      return Error::invalid_input(resume_from->string() + ": the checkpoint was made with training.seed " +
                                  std::to_string(state->seed) + ", the pipeline has " +
                                  std::to_string(spec.training.get_int("seed")) +
                                  " (the data order would differ; use the same seed to resume)");
    }
    resumed = *state;
  }

  // With an adapter the base is frozen: it always comes from model.path, and a checkpoint holds
  // only the adapter. Without one, a checkpoint holds the whole model.
  const runtime::ComposedStrategy* adapter = find_strategy(pipeline, sdk::StrategyKind::adapter);
  const runtime::ComposedStrategy* precision_choice = find_strategy(pipeline, sdk::StrategyKind::precision);
  const auto* precision =
      precision_choice != nullptr ? static_cast<const sdk::PrecisionStrategy*>(precision_choice->strategy.get()) : nullptr;
  const runtime::ComposedStrategy* quantization_choice = find_strategy(pipeline, sdk::StrategyKind::quantization);
  model::QuantizationChoice quantization;
  if (quantization_choice != nullptr) {
    quantization.strategy = static_cast<const sdk::QuantizationStrategy*>(quantization_choice->strategy.get());
    quantization.plugin = quantization_choice->choice->plugin->name;
  }
  std::vector<std::string> ignored;
  sdk::Result<std::unique_ptr<model::Transformer>> loaded = model::load_transformer(
      resume_from && adapter == nullptr ? *resume_from : spec.model_path, backend, &ignored, quantization);
  if (!loaded) return loaded.error();
  model::Transformer& model = **loaded;
  model.set_activation_checkpointing({spec.training.get_bool("activation_checkpointing.enabled"),
                                      spec.training.get_int("activation_checkpointing.every_n_layers")});
  if (precision != nullptr) model.set_compute_dtype(precision->compute_dtype());
  if (adapter != nullptr) {
    sdk::Result<bool> attached = attach_adapter(model, static_cast<const sdk::AdapterStrategy&>(*adapter->strategy),
                                                adapter->choice->plugin->name, spec.model_path.string());
    if (!attached) return attached.error();
    // A resumed run reads the adapter's weights once its settings are known to match (below).
    if (!resume_from) {
      model.adapters()->initialize(static_cast<std::uint64_t>(spec.training.get_int("seed")), model.parameters());
    }
  }
  if (observer.info) {
    std::string trained = adapter == nullptr
                              ? "all trained"
                              : std::to_string(model.adapters()->sites().size()) + " sites adapted by " +
                                    adapter->choice->plugin->name + ", " +
                                    std::to_string(model.adapters()->layout().parameter_count()) +
                                    " trainable; base frozen";
    std::int64_t quantized_weights = 0;
    if (const model::QuantizedSites* quantized = model.quantized()) {
      for (const model::QuantizedSites::Site& site : quantized->sites()) {
        quantized_weights += site.site.in_features * site.site.out_features;
      }
    }
    const std::int64_t dense = model.layout().parameter_count();
    observer.info("model: " + model.config().model_type + ", " + std::to_string(model.config().num_layers) +
                  " layers, " + std::to_string(dense + quantized_weights) + " parameters (" +
                  (quantized_weights > 0 ? std::to_string(dense) + " in f32, " : std::string("f32, ")) + trained + ")");
    if (const model::QuantizedSites* quantized = model.quantized()) {
      char bits[32];
      std::snprintf(bits, sizeof bits, "%.3f", static_cast<double>(quantized->stored_bytes()) * 8.0 /
                                                   static_cast<double>(std::max<std::int64_t>(1, quantized_weights)));
      observer.info("model: " + std::to_string(quantized_weights) + " weights of " +
                    std::to_string(quantized->sites().size()) + " linear sites stored by " + quantized->plugin() + " in " +
                    std::to_string(quantized->stored_bytes()) + " bytes (" + bits + " bits per weight), frozen");
    }
  }

  const std::int64_t seq_len = spec.data.get_int("seq_len");
  if (auto fits = check_sequence_length(model.config(), seq_len, spec.file.string() + ": data.seq_len"); !fits) {
    return fits.error();
  }
  data::TextDatasetOptions text_options;
  text_options.skip_bad_lines = spec.data.get_bool("skip_bad_lines");
  text_options.chat_template = spec.data.get_string("chat_template");
  const std::string& format = spec.data.get_string("format");
  std::string cache_note;
  const TokenCacheUse cache{spec.data.get_bool("tokenized_cache"), data::default_token_cache_folder(), &cache_note};
  sdk::Result<data::TokenDataset> dataset =
      load_documents(spec.train_data_path, format, spec.model_path, model.config().vocab_size, text_options, cache);
  if (!dataset) return dataset.error();
  if (!cache_note.empty() && observer.info) observer.info("data: " + spec.train_data_path.string() + " " + cache_note);
  std::optional<data::TokenDataset> eval_dataset;
  if (!spec.eval_data_path.empty()) {
    sdk::Result<data::TokenDataset> loaded_eval =
        load_documents(spec.eval_data_path, format, spec.model_path, model.config().vocab_size, text_options,
                       TokenCacheUse{cache.enabled, cache.folder, nullptr});
    if (!loaded_eval) return loaded_eval.error();
    eval_dataset = std::move(*loaded_eval);
  }
  const double eval_split = spec.data.get_float("eval_split");
  if (eval_split > 0.0) {
    sdk::Result<data::TokenDataset> held_out = hold_out_documents(*dataset, eval_split,
                                                                  static_cast<std::uint64_t>(spec.training.get_int("seed")));
    if (!held_out) return Error{held_out.error().category, spec.train_data_path.string() + ": " + held_out.error().message};
    if (observer.info) {
      observer.info("data: " + std::to_string(held_out->document_count()) + " of the training documents held out for " +
                    "evaluation (data.eval_split " + sdk::format_option_value(spec.data.values().at("eval_split")) + ")");
    }
    eval_dataset = std::move(*held_out);
  }
  if (dataset->skipped_lines() > 0 && observer.info) {
    observer.info("data: skipped " + std::to_string(dataset->skipped_lines()) + " malformed lines (data.skip_bad_lines)");
  }
  const auto seed = static_cast<std::uint64_t>(spec.training.get_int("seed"));
  const std::int64_t micro_batch_size = spec.training.get_int("micro_batch_size");
  data::BatchStream stream(data::pack_rows(*dataset, seq_len, spec.data.get_bool("packing")), seq_len,
                           micro_batch_size, seed, spec.data.get_bool("shuffle"));

  TrainingSettings settings;
  settings.gradient_accumulation_steps = spec.training.get_int("gradient_accumulation_steps");
  std::int64_t total_steps = spec.training.get_int("max_steps");
  if (total_steps == 0) {
    std::int64_t per_epoch = (stream.micro_batches_per_epoch() + settings.gradient_accumulation_steps - 1) /
                             settings.gradient_accumulation_steps;
    total_steps = std::max<std::int64_t>(1, per_epoch * spec.training.get_int("epochs"));
  }
  settings.schedule.peak = spec.training.get_float("learning_rate");
  settings.schedule.decay = decay_shape(spec.training.get_string("lr_scheduler"));
  settings.schedule.warmup = spec.training.get_string("warmup_type") == "log" ? WarmupShape::log : WarmupShape::linear;
  settings.schedule.warmup_steps = spec.training.get_int("warmup_steps");
  settings.schedule.total_steps = total_steps;
  settings.max_grad_norm = spec.training.get_float("max_grad_norm");
  settings.adamw.beta1 = spec.training.get_float("adam_beta1");
  settings.adamw.beta2 = spec.training.get_float("adam_beta2");
  settings.adamw.epsilon = spec.training.get_float("adam_epsilon");
  settings.adamw.weight_decay = spec.training.get_float("weight_decay");
  settings.seed = seed;
  settings.precision = precision;
  if (observer.info) {
    observer.info("data: " + std::to_string(dataset->document_count()) + " documents, " +
                  std::to_string(dataset->token_count()) + " tokens in " + std::to_string(stream.rows_per_epoch()) +
                  " rows of " + std::to_string(seq_len) + "; " + std::to_string(total_steps) + " steps");
  }

  Trainer trainer(model, settings);
  RunSummary summary;
  std::int64_t first_step = 0;
  if (resumed) {
    if (resumed->total_steps != total_steps) {
      return Error::invalid_input(resume_from->string() + ": the checkpoint belongs to a run of " +
                                  std::to_string(resumed->total_steps) + " steps, the pipeline asks for " +
                                  std::to_string(total_steps) + " (the learning-rate schedule would differ)");
    }
    const std::map<std::string, std::string> now = run_settings(spec, stream.rows_per_epoch());
    for (const auto& [key, then] : resumed->settings) {
      auto current = now.find(key);
      if (current == now.end() || current->second != then) {
        return Error::invalid_input(resume_from->string() + ": the checkpoint was made with " + key + " = " + then +
                                    ", the pipeline now gives " + (current == now.end() ? "nothing" : current->second) +
                                    " (resume with the settings the run started with)");
      }
    }
    if (resumed->data_position.cursor > stream.rows_per_epoch() || resumed->step > total_steps) {
      return Error::invalid_input(resume_from->string() + ": trainer_state.json does not fit this run (step " +
                                  std::to_string(resumed->step) + ", data cursor " +
                                  std::to_string(resumed->data_position.cursor) + ")");
    }
    if (resumed->step == total_steps) {
      return Error::invalid_input(resume_from->string() + ": the run already finished all " +
                                  std::to_string(total_steps) + " steps (raise training.max_steps to train further)");
    }
    if (model.adapters() != nullptr) {
      if (auto weights = model::load_adapter_weights(*model.adapters(), *resume_from, &model.parameters()); !weights) {
        return weights.error();
      }
      model.refresh_compute_weights();
    }
    sdk::Result<bool> restored = load_optimizer_state(*resume_from, trainer.optimizer(), resumed->optimizer_steps);
    if (!restored) return restored.error();
    stream.seek(resumed->data_position);
    first_step = resumed->step;
    trainer.restore(resumed->step, resumed->loss_scale);
    summary.resumed_from = resume_from;
    if (observer.info) observer.info("resumed from " + resume_from->string() + " at step " + std::to_string(first_step));
  }
  sdk::Result<MetricsLog> metrics =
      MetricsLog::open(spec.output_dir / "metrics.jsonl", resumed ? std::optional(first_step) : std::nullopt,
                       spec.output_dir / "tensorboard");
  if (!metrics) return metrics.error();

  const std::int64_t eval_every = spec.training.get_int("eval_every");
  const std::int64_t save_every = spec.output.get_int("save_every");
  const std::int64_t keep_last = spec.output.get_int("keep_last");
  std::optional<std::filesystem::path> last_checkpoint = resume_from;
  auto evaluate = [&](std::int64_t step) -> sdk::Result<bool> {
    if (!eval_dataset) return false;
    const std::filesystem::path& eval_source = spec.eval_data_path.empty() ? spec.train_data_path : spec.eval_data_path;
    sdk::Result<EvalResult> result = evaluate_documents(model, *eval_dataset, eval_source, seq_len, micro_batch_size);
    if (!result) return result.error();
    summary.eval = *result;
    metrics->write_eval(step, result->loss, result->perplexity, result->predictions);
    if (observer.on_eval) observer.on_eval(*result, step);
    return true;
  };
  auto checkpoint = [&](std::int64_t step) -> sdk::Result<bool> {
    TrainerState state{step, trainer.optimizer().steps_taken(), stream.position(), seed, total_steps,
                       run_settings(spec, stream.rows_per_epoch()), trainer.loss_scale()};
    sdk::Result<std::filesystem::path> saved = save_checkpoint(checkpoints, model, trainer.optimizer(), state, keep_last);
    if (!saved) return saved.error();
    last_checkpoint = *saved;
    if (observer.info) observer.info("checkpoint " + saved->string());
    return true;
  };
  for (std::int64_t step = first_step; step < total_steps; ++step) {
    sdk::Result<StepRecord> record = trainer.step(stream);
    if (!record) {
      std::string kept = last_checkpoint ? "; the last good checkpoint is " + last_checkpoint->string()
                                         : "; no checkpoint was saved (output.save_every is 0)";
      return Error{record.error().category, record.error().message + kept};
    }
    if (step == first_step) summary.first_loss = record->loss;
    summary.last_loss = record->loss;
    summary.steps = record->step - first_step;
    metrics->write_step(*record);
    if (observer.on_step) observer.on_step(*record, total_steps);
    if (eval_every > 0 && record->step % eval_every == 0 && record->step != total_steps) {
      if (auto evaluated = evaluate(record->step); !evaluated) return evaluated.error();
    }
    if (save_every > 0 && record->step % save_every == 0 && record->step != total_steps) {
      if (auto saved = checkpoint(record->step); !saved) return saved.error();
    }
  }
  if (auto evaluated = evaluate(total_steps); !evaluated) return evaluated.error();
  // The end of a run is always checkpointed (output.save_every: 0 means "only at the end").
  if (auto saved = checkpoint(total_steps); !saved) return saved.error();

  summary.final_model = spec.output_dir / "final";
  sdk::Result<std::vector<std::filesystem::path>> saved =
      model.adapters() != nullptr ? model::save_adapter(*model.adapters(), summary.final_model, spec.model_path.string())
                                  : model::save_transformer(model, summary.final_model);
  if (!saved) return saved.error();
  if (auto copied = model::copy_tokenizer_files(spec.model_path, summary.final_model); !copied) return copied.error();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  ReportInputs report;
  report.metrics_file = spec.output_dir / "metrics.jsonl";
  report.title = "fthost run: " + spec.file.filename().string();
  char line[256];
  std::snprintf(line, sizeof line, "%lld steps%s in %.1f s; loss %.4f -> %.4f", static_cast<long long>(summary.steps),
                resume_from ? (" (resumed from " + resume_from->string() + ")").c_str() : "", summary.seconds,
                summary.first_loss, summary.last_loss);
  report.summary.emplace_back(line);
  if (summary.eval) {
    std::snprintf(line, sizeof line, "eval loss %.4f, perplexity %.3f (%lld predictions)", summary.eval->loss,
                  summary.eval->perplexity, static_cast<long long>(summary.eval->predictions));
    report.summary.emplace_back(line);
  }
  report.summary.push_back("model: " + model.config().model_type + " from " + spec.model_path.string() +
                           (model.adapters() != nullptr ? ", adapter by " + model.adapters()->plugin() : ""));
  report.summary.push_back("saved to " + summary.final_model.string());
  report.settings = run_settings(spec, stream.rows_per_epoch());
  std::ifstream pipeline_file(spec.file);
  report.pipeline_text.assign(std::istreambuf_iterator<char>(pipeline_file), std::istreambuf_iterator<char>());
  summary.report = spec.output_dir / "report.html";
  if (auto written = write_report(summary.report, report); !written) return written.error();
  return summary;
}

}  // namespace fthost::train
