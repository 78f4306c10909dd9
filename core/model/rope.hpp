#pragma once
// Rotary embedding frequencies, computed as Hugging Face transformers computes them (in float32),
// so that fthost's rotations agree with PyTorch's to rounding.

#include <vector>

#include "model/model_config.hpp"

namespace fthost::model {

// inv_freq[i] = 1 / rope_theta^(2i / head_dim) for i < head_dim / 2, then the llama3 rescaling
// when configured (transformers' _compute_llama3_parameters).
std::vector<float> rotary_inverse_frequencies(const ModelConfig& config);

}  // namespace fthost::model
