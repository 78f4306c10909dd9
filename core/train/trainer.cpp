#include "train/trainer.hpp"

#include <cmath>
#include <vector>

#include "backend/counter_random.hpp"

namespace fthost::train {

Trainer::Trainer(model::Transformer& model, TrainingSettings settings)
    : model_(model),
      settings_(settings),
      gradients_(model.trainable_parameters().layout(), model.backend()),
      optimizer_(model.trainable_parameters().layout(), model.backend(), settings.adamw) {
  if (settings_.precision != nullptr) loss_scale_ = settings_.precision->initial_loss_scale_state();
}

sdk::Result<StepRecord> Trainer::step(data::BatchStream& stream) {
  auto started = std::chrono::steady_clock::now();
  backend::Backend& backend = model_.backend();
  StepRecord record;

  std::vector<model::HostBatch> micro_batches;
  for (std::int64_t i = 0; i < settings_.gradient_accumulation_steps; ++i) {
    micro_batches.push_back(stream.next());
    record.predictions += micro_batches.back().target_count();
    record.tokens += micro_batches.back().batch_size * micro_batches.back().seq_len;
  }
  if (record.predictions == 0) return sdk::Error::invalid_input("a training step has no next-token predictions");

  backend.fill(gradients_.buffer(), 0.0f);
  // fp16: the loss (so every gradient) is multiplied by the loss scale, and divided back below.
  record.loss_scale = loss_scale_.scale;
  const auto gradient_scale = static_cast<float>(loss_scale_.scale / static_cast<double>(record.predictions));
  double loss_sum = 0.0;
  const std::int64_t update_index = optimizer_.steps_taken();
  const model::Gradients targets = model_.gradients_for_trainable(gradients_);
  for (std::size_t micro = 0; micro < micro_batches.size(); ++micro) {
    model::Batch batch = model::upload_batch(backend, micro_batches[micro]);
    const auto pass = static_cast<std::uint64_t>(update_index * settings_.gradient_accumulation_steps) + micro;
    model_.set_pass_seed(backend::counter_substream(settings_.seed, pass));
    loss_sum += model_.forward_backward(batch, targets, gradient_scale);
  }
  record.loss = loss_sum / static_cast<double>(record.predictions);
  if (!std::isfinite(record.loss)) {
    return sdk::Error::invalid_input("loss is " + std::to_string(record.loss) + " at step " +
                                     std::to_string(update_index + 1) +
                                     ": training diverged (lower training.learning_rate or check the data)");
  }
  const double scaled_norm = optimizer_.gradient_norm(gradients_);
  const bool overflow = !std::isfinite(scaled_norm);
  if (settings_.precision != nullptr && settings_.precision->scales_loss()) {
    sdk::Result<sdk::LossScaleState> next = settings_.precision->update_loss_scale(loss_scale_, overflow);
    if (!next) return sdk::Error{next.error().category, next.error().message + " (step " + std::to_string(steps_attempted_ + 1) + ")"};
    loss_scale_ = *next;
  }
  record.step = ++steps_attempted_;
  record.learning_rate = settings_.schedule.at(update_index);
  if (overflow) {
    if (settings_.precision == nullptr || !settings_.precision->scales_loss()) {
      return sdk::Error::invalid_input("the gradients hold inf or NaN at step " + std::to_string(record.step) +
                                       ": training diverged (lower training.learning_rate or check the data)");
    }
    // DeepSpeed's overflow rule: no update, no learning-rate schedule advance; the next step
    // tries again with the lowered scale.
    record.skipped = true;
    record.gradient_norm = scaled_norm;
  } else {
    if (record.loss_scale != 1.0) backend.scale_inplace(gradients_.buffer(), static_cast<float>(1.0 / record.loss_scale));
    record.gradient_norm = scaled_norm / record.loss_scale;
    optimizer_.clip(gradients_, record.gradient_norm, settings_.max_grad_norm);
    optimizer_.step(model_.trainable_parameters(), gradients_, record.learning_rate);
    // 16-bit compute reads 16-bit copies of the weights: they follow the update (adapters are
    // used in f32 and a frozen base never changes).
    if (model_.adapters() == nullptr) model_.refresh_compute_weights();
  }
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  record.memory = backend.allocator().stats();
  return record;
}

}  // namespace fthost::train
