#pragma once
// bitsandbytes' 4-bit blockwise quantization (quantize_4bit / dequantize_4bit), bit for bit:
// the tensor is flattened row-major and cut into blocks of `blocksize` elements; each block keeps
// its absmax (f32) and each element the index of the nearest code of the 16-value table (NF4 or
// bitsandbytes' FP4) for x / absmax, ties to the lower code (torch.bucketize on the midpoints);
// two codes per byte, the even element in the high nibble; an odd count pads with the code of 0.
// Facts: ../shared/reference/quant_lora.md section 1; checked against bitsandbytes' own output in
// tests/plugins/test_nf4_codec.cpp. Double quantization of the absmax values is not here yet.

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

}  // namespace fthost::plugins
