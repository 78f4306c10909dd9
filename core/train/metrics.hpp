#pragma once
// OUTPUT_DIR/metrics.jsonl: one JSON object per logged training step and per evaluation, flushed
// as it is written, so a run can be plotted while it trains and read after it crashed.
//   {"step": 10, "loss": 3.21, "lr": 0.0003, "grad_norm": 1.2, "tokens": 2048, "tokens_per_second": 5012.3,
//    "memory_current_bytes": ..., "memory_peak_bytes": ..., "seconds": 0.41}
//   {"step": 10, "eval_loss": 3.4, "eval_perplexity": 29.9, "eval_predictions": 1277}

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "fthost/sdk/error.hpp"
#include "train/trainer.hpp"

namespace fthost::train {

class MetricsLog {
 public:
  // Opens (creating the folder) for appending. With `resumed_step`, lines of later steps, written
  // by the run being resumed before it stopped, are dropped first.
  static sdk::Result<MetricsLog> open(const std::filesystem::path& file, std::optional<std::int64_t> resumed_step);

  void write_step(const StepRecord& record);
  void write_eval(std::int64_t step, double loss, double perplexity, std::int64_t predictions);

 private:
  explicit MetricsLog(std::ofstream stream) : stream_(std::move(stream)) {}
  std::ofstream stream_;
};

}  // namespace fthost::train
