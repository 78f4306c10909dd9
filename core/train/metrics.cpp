#include "train/metrics.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/atomic_file.hpp"

namespace fthost::train {

sdk::Result<MetricsLog> MetricsLog::open(const std::filesystem::path& file, std::optional<std::int64_t> resumed_step,
                                         const std::filesystem::path& tensorboard_folder) {
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  if (resumed_step && std::filesystem::exists(file, error)) {
    std::ifstream old(file);
    std::string kept;
    std::string line;
    while (std::getline(old, line)) {
      auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.contains("step") || !record["step"].is_number_integer()) continue;
      if (record["step"].get<std::int64_t>() <= *resumed_step) kept += line + "\n";
    }
    std::span<const std::byte> pieces[] = {std::as_bytes(std::span<const char>(kept))};
    auto written = model::write_file_atomically(file, pieces);
    if (!written) return written.error();
  }
  std::ofstream stream(file, std::ios::app);
  if (!stream) return sdk::Error::invalid_input(file.string() + ": cannot open for writing");
  sdk::Result<TensorBoardWriter> tensorboard = TensorBoardWriter::open(tensorboard_folder);
  if (!tensorboard) return tensorboard.error();
  return MetricsLog(std::move(stream), std::move(*tensorboard));
}

void MetricsLog::write_step(const StepRecord& record) {
  nlohmann::json line = {{"step", record.step},
                         {"loss", record.loss},
                         {"lr", record.learning_rate},
                         {"grad_norm", record.gradient_norm},
                         {"tokens", record.tokens},
                         {"predictions", record.predictions},
                         {"tokens_per_second", static_cast<double>(record.tokens) / std::max(record.seconds, 1e-9)},
                         {"memory_current_bytes", record.memory.current_bytes},
                         {"memory_peak_bytes", record.memory.peak_bytes},
                         {"memory_reserved_bytes", record.memory.reserved_bytes},
                         {"seconds", record.seconds},
                         {"loss_scale", record.loss_scale},
                         {"skipped", record.skipped}};
  stream_ << line.dump() << '\n' << std::flush;
  tensorboard_.scalar("train/loss", record.step, record.loss);
  tensorboard_.scalar("train/lr", record.step, record.learning_rate);
  tensorboard_.scalar("train/grad_norm", record.step, record.gradient_norm);
  tensorboard_.scalar("train/tokens_per_second", record.step,
                      static_cast<double>(record.tokens) / std::max(record.seconds, 1e-9));
  tensorboard_.scalar("memory/peak_mib", record.step, static_cast<double>(record.memory.peak_bytes) / 1048576.0);
  tensorboard_.scalar("train/loss_scale", record.step, record.loss_scale);
}

void MetricsLog::write_eval(std::int64_t step, double loss, double perplexity, std::int64_t predictions) {
  nlohmann::json line = {{"step", step},
                         {"eval_loss", loss},
                         {"eval_perplexity", perplexity},
                         {"eval_predictions", predictions}};
  stream_ << line.dump() << '\n' << std::flush;
  tensorboard_.scalar("eval/loss", step, loss);
  tensorboard_.scalar("eval/perplexity", step, perplexity);
}

}  // namespace fthost::train
