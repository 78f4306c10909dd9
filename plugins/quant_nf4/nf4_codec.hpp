#pragma once
// bitsandbytes' 4-bit blockwise quantization (quantize_4bit / dequantize_4bit), bit for bit:
// the tensor is flattened row-major and cut into blocks of `blocksize` elements; each block keeps
// its absmax (f32) and each element the index of the nearest code of the 16-value table (NF4 or
// bitsandbytes' FP4) for x / absmax, ties to the lower code (torch.bucketize on the midpoints);
// two codes per byte, the even element in the high nibble; an odd count pads with the code of 0.
// Facts: ../shared/reference/quant_lora.md section 1; checked against bitsandbytes' own output in
// tests/plugins/test_nf4_codec.cpp. Double quantization (bnb_4bit_use_double_quant) quantizes the
// absmax values again: minus their mean, in blocks of 256, to 8-bit codes of bitsandbytes'
// signed dynamic map (create_dynamic_map), each block with its own f32 absmax. Here each code is
// the nearest map value; bitsandbytes' native CPU kernel decides values within a hair of a
// midpoint differently (1 in 516 in the test), one code apart.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace fthost::plugins {

enum class FourBitType { nf4, fp4 };

// The 16 values by code (functional.py get_4bit_type; FP4 in bit-pattern order, divided by 12).
const std::array<float, 16>& four_bit_table(FourBitType type);

struct FourBitQuantized {
  std::vector<std::uint8_t> codes;  // (n + 1) / 2 bytes
  std::vector<float> absmax;        // one per block
};

// blocksize: a power of two in [32, 4096] (std::invalid_argument otherwise).
FourBitQuantized quantize_4bit(std::span<const float> values, std::int64_t blocksize, FourBitType type);
// values[i] = table[code_i] * absmax[i / blocksize], for `count` elements.
std::vector<float> dequantize_4bit(const FourBitQuantized& quantized, std::int64_t count, std::int64_t blocksize,
                                   FourBitType type);

// out[i] = table[code_i] * scales[i / blocksize] for i < count: the training path's dequantization
// (one site's weight at a time), straight from packed codes and per-block scales.
void dequantize_4bit_into(const std::uint8_t* codes, const float* scales, std::int64_t count, std::int64_t blocksize,
                          FourBitType type, float* out);

// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted values.
const std::array<float, 256>& dynamic_map();

struct QuantizedAbsmax {
  std::vector<std::uint8_t> codes;  // one per absmax value
  float offset = 0.0f;              // the mean of the absmax values
  std::vector<float> nested_absmax; // one per block of 256
};

// quantize_4bit(compress_statistics=True)'s second level, from the first level's exact absmax.
QuantizedAbsmax quantize_absmax(std::span<const float> absmax);
// dequantize_blockwise(codes, state2) + offset: the scales dequantization uses.
std::vector<float> dequantize_absmax(const QuantizedAbsmax& quantized);

}  // namespace fthost::plugins
