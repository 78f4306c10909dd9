#pragma once
// The host's own pipeline sections (model, data, training, output), declared with the same option
// schemas plugins use, so they are validated and documented the same way.

#include <string_view>
#include <vector>

#include "fthost/sdk/options.hpp"

namespace fthost::runtime {

struct HostSection {
  std::string_view name;
  std::string_view summary;
  const sdk::OptionSchema& schema;
};

const sdk::OptionSchema& model_section_schema();
const sdk::OptionSchema& data_section_schema();
const sdk::OptionSchema& training_section_schema();
const sdk::OptionSchema& output_section_schema();

// In the order a pipeline file is expected to list them.
const std::vector<HostSection>& host_sections();

}  // namespace fthost::runtime
