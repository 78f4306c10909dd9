#pragma once
// OUTPUT_DIR/metrics.jsonl: one JSON object per training step and per evaluation, flushed as it
// is written, so a run can be plotted while it trains and read after it crashed; the same scalars
// go to OUTPUT_DIR/tensorboard/ (train/loss, train/lr, train/grad_norm, train/tokens_per_second,
// memory/peak_mib, eval/loss, eval/perplexity) for `tensorboard --logdir`.
//   {"step": 10, "loss": 3.21, "lr": 0.0003, "grad_norm": 1.2, "tokens": 2048, "tokens_per_second": 5012.3,
//    "memory_current_bytes": ..., "memory_peak_bytes": ..., "seconds": 0.41,
//    "loss_scale": 1.0, "skipped": false}   (fp16: the step's loss scale; skipped = overflow, no update)
//   {"step": 10, "eval_loss": 3.4, "eval_perplexity": 29.9, "eval_predictions": 1277}

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "fthost/sdk/error.hpp"
#include "train/tensorboard.hpp"
#include "train/trainer.hpp"

namespace fthost::train {

class MetricsLog {
 public:
  // Opens (creating the folder) for appending. With `resumed_step`, lines of later steps, written
  // by the run being resumed before it stopped, are dropped first.
  static sdk::Result<MetricsLog> open(const std::filesystem::path& file, std::optional<std::int64_t> resumed_step,
                                      const std::filesystem::path& tensorboard_folder);

  void write_step(const StepRecord& record);
  void write_eval(std::int64_t step, double loss, double perplexity, std::int64_t predictions);

 private:
  MetricsLog(std::ofstream stream, TensorBoardWriter tensorboard)
      : stream_(std::move(stream)), tensorboard_(std::move(tensorboard)) {}
  std::ofstream stream_;
  TensorBoardWriter tensorboard_;
};

}  // namespace fthost::train
