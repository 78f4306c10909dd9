#include "model/rope.hpp"

#include <cmath>
#include <numbers>

namespace fthost::model {

std::vector<float> rotary_inverse_frequencies(const ModelConfig& config) {
  const std::int64_t half = config.head_dim / 2;
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), base a Python float: the
  // power is taken in float32 with base rounded to float32.
  const auto base = static_cast<float>(config.rope_theta);
  for (std::int64_t i = 0; i < half; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(config.head_dim);
    inv_freq[static_cast<std::size_t>(i)] = 1.0f / std::pow(base, exponent);
  }
  if (!config.rope_scaling) return inv_freq;

  const Llama3RopeScaling& scaling = *config.rope_scaling;
  // Long wavelengths (beyond the original context / low_freq_factor) are slowed by `factor`,
  // short ones kept, and the band between interpolated smoothly. Same float32 arithmetic as
  // transformers: its scalars are Python floats (double) that torch applies to float32 tensors.
  const double low_freq_wavelen = scaling.original_max_position_embeddings / scaling.low_freq_factor;
  const double high_freq_wavelen = scaling.original_max_position_embeddings / scaling.high_freq_factor;
  for (float& frequency : inv_freq) {
    const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / frequency;
    float scaled = static_cast<double>(wavelen) > low_freq_wavelen ? frequency / static_cast<float>(scaling.factor)
                                                                   : frequency;
    const bool medium = !(static_cast<double>(wavelen) < high_freq_wavelen) &&
                        !(static_cast<double>(wavelen) > low_freq_wavelen);
    if (medium) {
      const float smooth = (static_cast<float>(scaling.original_max_position_embeddings) / wavelen -
                            static_cast<float>(scaling.low_freq_factor)) /
                           static_cast<float>(scaling.high_freq_factor - scaling.low_freq_factor);
      scaled = (1.0f - smooth) * scaled / static_cast<float>(scaling.factor) + smooth * scaled;
    }
    frequency = scaled;
  }
  return inv_freq;
}

}  // namespace fthost::model
