#include "train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace fthost::train {

double LearningRateSchedule::at(std::int64_t step) const {
  if (step < warmup_steps) {
    if (warmup == WarmupShape::log) {
      // DeepSpeed WarmupLR: gamma = log(step + 1) / log(warmup_num_steps); warmup of 1 step is no warmup.
      if (warmup_steps <= 1) return peak;
      return peak * std::log(static_cast<double>(step + 1)) / std::log(static_cast<double>(warmup_steps));
    }
    return peak * static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup_steps));
  }
  const double progress = static_cast<double>(step - warmup_steps) /
                          static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  switch (decay) {
    case DecayShape::constant: return peak;
    case DecayShape::linear: return peak * std::max(0.0, 1.0 - progress);
    case DecayShape::cosine: return peak * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
  }
  return peak;
}

}  // namespace fthost::train
