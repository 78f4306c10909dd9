#pragma once
// The 16-bit float types as a GPU converts to them from f32: round to nearest, ties to even.
// bfloat16 keeps f32's exponent and the top 7 mantissa bits; IEEE half has 5 exponent bits (max
// 65504, subnormals down to 2^-24). Used by the CPU backend to hold values exactly as 16-bit
// storage would, and by tests.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace fthost::backend {

inline std::uint16_t float_to_bf16_bits(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // stays a quiet NaN
  const std::uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline float bf16_bits_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

inline float round_to_bf16(float value) { return bf16_bits_to_float(float_to_bf16_bits(value)); }

// IEEE binary16, ties to even, through the exact f32 arithmetic of the rounding step.
inline float round_to_f16(float value) {
  if (std::isnan(value) || std::isinf(value) || value == 0.0f) return value;
  const float magnitude = std::fabs(value);
  if (magnitude >= 65520.0f) return std::copysign(INFINITY, value);  // halfway above 65504 rounds up to inf
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = m * 2^exponent, m in [0.5, 1)
  // The spacing of half values near `magnitude`: 2^(exponent - 11) for normals, 2^-24 below 2^-14.
  const int spacing_exponent = std::max(exponent - 11, -24);
  const float spacing = std::ldexp(1.0f, spacing_exponent);
  // nearbyint rounds ties to even under the default rounding mode; the quotient is exact.
  const float rounded = std::nearbyint(magnitude / spacing) * spacing;
  return std::copysign(rounded, value);
}

}  // namespace fthost::backend
