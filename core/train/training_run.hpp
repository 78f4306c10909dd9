#pragma once
// A whole training run from a validated pipeline: load the model and data, train for the
// configured steps, evaluate, save the final model as a Hugging Face folder.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fthost/runtime/compose.hpp"
#include "fthost/sdk/error.hpp"
#include "data/text_dataset.hpp"
#include "train/trainer.hpp"

namespace fthost::train {

struct EvalResult {
  double loss = 0.0;  // mean token loss
  double perplexity = 0.0;
  std::int64_t predictions = 0;
};

struct RunSummary {
  std::int64_t steps = 0;
  double first_loss = 0.0;
  double last_loss = 0.0;
  std::optional<EvalResult> eval;
  std::filesystem::path final_model;
  std::filesystem::path report;  // report.html: loss and lr curves, settings
  std::optional<std::filesystem::path> resumed_from;
  double seconds = 0.0;
};

struct RunObserver {
  std::function<void(const std::string&)> info;                         // one line
  std::function<void(const StepRecord&, std::int64_t total_steps)> on_step;
  std::function<void(const EvalResult&, std::int64_t step)> on_eval;
};

struct RunOptions {
  // Continue from a checkpoint: "latest" (the newest under OUTPUT_DIR/checkpoints) or a folder.
  std::optional<std::string> resume;
};

// Checkpoints go to OUTPUT_DIR/checkpoints every output.save_every steps and at the end; metrics
// to OUTPUT_DIR/metrics.jsonl; the final model to OUTPUT_DIR/final. A resumed run continues with
// the same data order, optimizer state and schedule, so its losses equal the uninterrupted run's.
sdk::Result<RunSummary> run_training(const runtime::ComposedPipeline& pipeline, const RunObserver& observer,
                                     const RunOptions& options = {});

// Attaches `strategy` (from plugin `plugin`) to every linear site of `model` it targets; the base
// is frozen from then on. `base_model` is what adapter_config.json will name as the base. Refused:
// a strategy that targets nothing, an unusable site layout, a target the model cannot adapt yet.
sdk::Result<bool> attach_adapter(model::Transformer& model, const sdk::AdapterStrategy& strategy,
                                 const std::string& plugin, const std::string& base_model);

// Whether and where load_documents keeps tokenized copies of text data (data/token_cache.hpp).
struct TokenCacheUse {
  bool enabled = false;
  std::filesystem::path folder;
  std::string* note = nullptr;  // when set: what happened ("read from the tokenized cache ...")
};

// Documents of a data file: token JSONL as it is, any text format (data.format) tokenized with
// model_folder/tokenizer.json. Ids must fit the model's vocabulary. The tokens are streamed into a
// file that the dataset maps: the cache entry when the cache is on, else a temporary file in
// $TMPDIR, unlinked once mapped (data/token_store.hpp).
sdk::Result<data::TokenDataset> load_documents(const std::filesystem::path& file, const std::string& format,
                                               const std::filesystem::path& model_folder, std::int64_t vocab_size,
                                               const data::TextDatasetOptions& options,
                                               const TokenCacheUse& cache = {});

// Mean token loss of `model` over every document (each its own attention span; predictions never
// cross documents), packed into rows of seq_len. `file` names the data in errors.
sdk::Result<EvalResult> evaluate_documents(model::Transformer& model, const data::TokenDataset& dataset,
                                           const std::filesystem::path& file, std::int64_t seq_len,
                                           std::int64_t micro_batch_size);

}  // namespace fthost::train
