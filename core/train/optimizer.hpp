#pragma once
// AdamW over a model's parameter buffer, with global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_ does it. Moments live in buffers laid out like the parameters.

#include <cstdint>
#include <vector>

#include "model/parameters.hpp"

namespace fthost::train {

struct AdamWSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;
  // Hugging Face Trainer decays only weight matrices and embeddings, not biases and norm weights;
  // torch.optim.AdamW over model.parameters() decays everything.
  bool decay_biases_and_norms = false;
};

class AdamW {
 public:
  AdamW(const model::ParameterLayout& layout, backend::Backend& backend, AdamWSettings settings);

  // sqrt(sum of squares) over every gradient, in double.
  double gradient_norm(const model::ParameterSet& gradients) const;
  // torch's rule: gradients *= min(1, max_norm / (norm + 1e-6)); max_norm 0 disables.
  void clip(const model::ParameterSet& gradients, double norm, double max_norm) const;
  // One update with learning rate `lr`; returns the step count after it (1-based).
  std::int64_t step(model::ParameterSet& parameters, const model::ParameterSet& gradients, double lr);

  std::int64_t steps_taken() const { return steps_; }
  const model::ParameterSet& first_moment() const { return m_; }
  const model::ParameterSet& second_moment() const { return v_; }
  void restore(std::int64_t steps) { steps_ = steps; }
  backend::Backend& backend() const { return backend_; }

 private:
  backend::Backend& backend_;
  AdamWSettings settings_;
  model::ParameterSet m_;
  model::ParameterSet v_;
  std::int64_t steps_ = 0;
};

}  // namespace fthost::train
