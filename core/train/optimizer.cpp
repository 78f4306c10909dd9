#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>

namespace fthost::train {

AdamW::AdamW(const model::ParameterLayout& layout, backend::Backend& backend, AdamWSettings settings)
    : backend_(backend), settings_(settings), m_(layout, backend), v_(layout, backend) {}

double AdamW::gradient_norm(const model::ParameterSet& gradients) const {
  // The whole buffer at once: padding between parameters is zero and adds nothing.
  return std::sqrt(backend_.sum_of_squares(gradients.buffer()));
}

void AdamW::clip(const model::ParameterSet& gradients, double norm, double max_norm) const {
  if (max_norm <= 0.0) return;
  // torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, applied to every gradient.
  const double coefficient = std::min(1.0, max_norm / (norm + 1e-6));
  if (coefficient < 1.0) backend_.scale_inplace(gradients.buffer(), static_cast<float>(coefficient));
}

std::int64_t AdamW::step(model::ParameterSet& parameters, const model::ParameterSet& gradients, double lr) {
  ++steps_;
  for (const model::ParameterSpec& spec : parameters.layout().specs()) {
    bool decays = settings_.decay_biases_and_norms || spec.role == model::ParameterRole::linear_weight ||
                  spec.role == model::ParameterRole::embedding || spec.role == model::ParameterRole::position_embedding;
    backend_.adamw_step(parameters.get(spec), gradients.get(spec), m_.get(spec), v_.get(spec), lr, settings_.beta1,
                        settings_.beta2, settings_.epsilon, decays ? settings_.weight_decay : 0.0, steps_);
  }
  return steps_;
}

}  // namespace fthost::train
