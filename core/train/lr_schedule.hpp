#pragma once
// Learning-rate schedules with the semantics users know from Hugging Face's get_*_schedule_with_warmup
// and DeepSpeed's WarmupLR: `step` is the 0-based index of the optimizer step about to run.

#include <cstdint>
#include <string>

namespace fthost::train {

enum class DecayShape { constant, linear, cosine };
enum class WarmupShape { linear, log };

struct LearningRateSchedule {
  double peak = 1e-4;
  DecayShape decay = DecayShape::constant;
  WarmupShape warmup = WarmupShape::linear;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;

  // Warmup: peak * step / warmup_steps (linear, HF) or peak * log(step + 1) / log(warmup_steps)
  // (log, DeepSpeed). After warmup, with progress = (step - warmup) / (total - warmup):
  // constant: peak; linear: peak * (1 - progress); cosine: peak * 0.5 * (1 + cos(pi * progress)).
  double at(std::int64_t step) const;
};

}  // namespace fthost::train
