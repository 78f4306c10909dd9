#pragma once
// The training step: gather micro-batches, forward and backward each (gradients accumulate),
// clip by global norm, AdamW with the scheduled learning rate. The loss of a step is the mean
// over every next-token prediction in all its micro-batches.

#include <chrono>
#include <cstdint>

#include "backend/allocator.hpp"
#include "fthost/sdk/strategy.hpp"
#include "data/token_dataset.hpp"
#include "model/transformer.hpp"
#include "train/lr_schedule.hpp"
#include "train/optimizer.hpp"

namespace fthost::train {

struct TrainingSettings {
  std::int64_t gradient_accumulation_steps = 1;
  LearningRateSchedule schedule;
  double max_grad_norm = 1.0;  // 0 disables clipping
  AdamWSettings adamw;
  std::uint64_t seed = 0;  // train-time randomness (adapter dropout), drawn per step and micro-batch
  // fp16's loss scaler (and the compute dtype, set on the model); none: f32, no scaling.
  const sdk::PrecisionStrategy* precision = nullptr;
};

struct StepRecord {
  std::int64_t step = 0;           // 1-based, after the update
  double loss = 0.0;               // mean token loss of the step's micro-batches, before the update
  double learning_rate = 0.0;      // used by this update
  double gradient_norm = 0.0;      // before clipping
  std::int64_t tokens = 0;         // tokens processed (rows * seq_len, padding included)
  std::int64_t predictions = 0;    // targets that counted towards the loss
  double seconds = 0.0;
  backend::MemoryStats memory;     // after the step
  double loss_scale = 1.0;         // the scale this step's gradients were computed with
  bool skipped = false;            // fp16 overflow: no update was made (DeepSpeed skips the step)
};

// Trains model.trainable_parameters(): the whole model, or only its adapters when attached
// (then no gradient or optimizer state exists for the frozen base).
class Trainer {
 public:
  Trainer(model::Transformer& model, TrainingSettings settings);

  // One optimizer step on the next micro-batches of `stream`. Refuses (sdk::Error) a step whose
  // loss is not finite, before updating anything.
  sdk::Result<StepRecord> step(data::BatchStream& stream);

  AdamW& optimizer() { return optimizer_; }
  model::ParameterSet& gradients() { return gradients_; }

  // Steps attempted (skipped ones included) and the loss scaler's state, for checkpoints and resume.
  std::int64_t steps_attempted() const { return steps_attempted_; }
  const sdk::LossScaleState& loss_scale() const { return loss_scale_; }
  void restore(std::int64_t steps_attempted, const sdk::LossScaleState& loss_scale) {
    steps_attempted_ = steps_attempted;
    loss_scale_ = loss_scale;
  }

 private:
  model::Transformer& model_;
  TrainingSettings settings_;
  model::ParameterSet gradients_;
  AdamW optimizer_;
  std::int64_t steps_attempted_ = 0;
  sdk::LossScaleState loss_scale_;
};

}  // namespace fthost::train
