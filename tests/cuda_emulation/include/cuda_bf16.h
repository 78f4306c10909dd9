#pragma once
// Emulated cuda_bf16.h: __nv_bfloat16 and the conversions fthost's kernels use. f32 -> bf16 rounds
// exactly as backend/float16.hpp does (to nearest, ties to even), which is what the GPU's
// cvt.rn.bf16.f32 computes; a NaN becomes the canonical NaN 0x7FFF, as on the GPU (float16.hpp
// keeps the payload instead, so a kernel that must keep it has to handle NaN itself).

#include <bit>
#include <cmath>
#include <cstdint>

#include "backend/float16.hpp"
#include "cuda_runtime.h"

struct __nv_bfloat16 {
  unsigned short __x;
};
using nv_bfloat16 = __nv_bfloat16;

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 value) { return value.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short bits) { return __nv_bfloat16{bits}; }

inline __nv_bfloat16 __float2bfloat16_rn(float value) {
  if (std::isnan(value)) return __nv_bfloat16{0x7FFFu};
  return __nv_bfloat16{fthost::backend::float_to_bf16_bits(value)};
}
inline __nv_bfloat16 __float2bfloat16(float value) { return __float2bfloat16_rn(value); }
// Exact: bf16 is the top half of an f32.
inline float __bfloat162float(__nv_bfloat16 value) { return fthost::backend::bf16_bits_to_float(value.__x); }
