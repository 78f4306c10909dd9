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

// IEEE binary16 bits, ties to even (Giesen's float_to_half_fast3_rtne: integer rounding for
// normals, one f32 addition that the FPU rounds for subnormals). NaN -> quiet NaN.
inline std::uint16_t float_to_f16_bits(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  std::uint32_t half = 0;
  if (bits >= 0x47800000u) {            // |value| >= 2^16, inf or NaN
    half = bits > 0x7F800000u ? 0x7E00u : 0x7C00u;
  } else if (bits < 0x38800000u) {      // below the smallest normal half, 2^-14
    // Adding 0.5 aligns the value's bits so the FPU's own round-to-nearest-even picks the subnormal.
    const float aligned = std::bit_cast<float>(bits) + 0.5f;
    half = std::bit_cast<std::uint32_t>(aligned) - 0x3F000000u;
  } else {
    const std::uint32_t mantissa_odd = (bits >> 13) & 1u;
    bits += 0xC8000FFFu;                // rebias the exponent (15 - 127 << 23) plus the rounding bias
    bits += mantissa_odd;
    half = bits >> 13;                  // a carry out of the mantissa rounds up to the next exponent (or inf)
  }
  return static_cast<std::uint16_t>(half | (sign >> 16));
}

inline float f16_bits_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  const std::uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1.0p-24f;  // zero or subnormal, exact
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

inline float round_to_f16(float value) { return f16_bits_to_float(float_to_f16_bits(value)); }

}  // namespace fthost::backend
