#pragma once
// Emulated cuda_fp16.h: __half and the conversions fthost's kernels use. f32 -> f16 rounds exactly
// as backend/float16.hpp does (IEEE, to nearest, ties to even, subnormals, +-inf past 65504),
// which is what the GPU's cvt.rn.f16.f32 computes; NaN becomes the canonical NaN 0x7FFF in f16
// and 0x7FFFFFFF back in f32, as on the GPU.

#include <bit>
#include <cmath>
#include <cstdint>

#include "backend/float16.hpp"
#include "cuda_runtime.h"

struct __half {
  unsigned short __x;
};

inline unsigned short __half_as_ushort(__half value) { return value.__x; }
inline __half __ushort_as_half(unsigned short bits) { return __half{bits}; }

inline __half __float2half_rn(float value) {
  if (std::isnan(value)) return __half{0x7FFFu};
  return __half{fthost::backend::float_to_f16_bits(value)};
}
inline __half __float2half(float value) { return __float2half_rn(value); }
inline float __half2float(__half value) {
  if ((value.__x & 0x7C00u) == 0x7C00u && (value.__x & 0x03FFu) != 0) return std::bit_cast<float>(0x7FFFFFFFu);
  return fthost::backend::f16_bits_to_float(value.__x);
}
