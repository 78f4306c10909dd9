#pragma once
// The model's projections as strategies see them: Hugging Face module names, shapes, roles.
// Computed from config.json alone, so validation can check strategies against the model
// before any weight is loaded.

#include <vector>

#include "fthost/sdk/types.hpp"
#include "model/model_config.hpp"

namespace fthost::model {

std::vector<sdk::LinearSite> linear_sites(const ModelConfig& config);

}  // namespace fthost::model
