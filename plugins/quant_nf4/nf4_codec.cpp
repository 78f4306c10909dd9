#include "nf4_codec.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fthost::plugins {
namespace {

constexpr std::array<float, 16> nf4_table = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f,
    1.0f};

// get_4bit_type("fp4"): [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3] / 12, in f32.
constexpr std::array<float, 16> fp4_table = {
    0.0f / 12.0f,  0.0625f / 12.0f,  8.0f / 12.0f,  12.0f / 12.0f,  4.0f / 12.0f,  6.0f / 12.0f,
    2.0f / 12.0f,  3.0f / 12.0f,     -0.0f / 12.0f, -0.0625f / 12.0f, -8.0f / 12.0f, -12.0f / 12.0f,
    -4.0f / 12.0f, -6.0f / 12.0f,    -2.0f / 12.0f, -3.0f / 12.0f};

// A table's codes sorted by value and the midpoints between neighbours (f32, as torch computes
// them from the f32 table): the boundaries bucketize searches.
struct Buckets {
  std::array<std::uint8_t, 16> code_by_rank{};
  std::array<float, 15> midpoints{};
};

Buckets make_buckets(const std::array<float, 16>& table) {
  Buckets buckets;
  std::array<std::uint8_t, 16> order{};
  for (std::uint8_t i = 0; i < 16; ++i) order[i] = i;
  // FP4 has +0 and -0: the stable sort keeps code 0 (+0) first, as torch.sort keeps their order.
  std::stable_sort(order.begin(), order.end(), [&](std::uint8_t a, std::uint8_t b) { return table[a] < table[b]; });
  buckets.code_by_rank = order;
  for (std::size_t i = 0; i < 15; ++i) buckets.midpoints[i] = (table[order[i]] + table[order[i + 1]]) / 2.0f;
  return buckets;
}

std::uint8_t code_of(float scaled, const Buckets& buckets) {
  // torch.bucketize(right=False): the number of boundaries strictly below the value.
  const auto rank = static_cast<std::size_t>(
      std::lower_bound(buckets.midpoints.begin(), buckets.midpoints.end(), scaled) - buckets.midpoints.begin());
  return buckets.code_by_rank[rank];
}

void check_blocksize(std::int64_t blocksize) {
  if (blocksize < 32 || blocksize > 4096 || (blocksize & (blocksize - 1)) != 0) {
    throw std::invalid_argument("blocksize " + std::to_string(blocksize) +
                                " must be a power of two from 32 to 4096 (bitsandbytes' blocksizes)");
  }
}

}  // namespace

const std::array<float, 16>& four_bit_table(FourBitType type) { return type == FourBitType::nf4 ? nf4_table : fp4_table; }

FourBitQuantized quantize_4bit(std::span<const float> values, std::int64_t blocksize, FourBitType type) {
  check_blocksize(blocksize);
  const Buckets buckets = make_buckets(four_bit_table(type));
  const std::size_t count = values.size();
  const auto block = static_cast<std::size_t>(blocksize);
  FourBitQuantized out;
  out.absmax.resize((count + block - 1) / block);
  out.codes.assign((count + 1) / 2, 0);
  std::vector<std::uint8_t> codes(count + 1, code_of(0.0f, buckets));  // the pad nibble: the code of 0
  for (std::size_t first = 0, b = 0; first < count; first += block, ++b) {
    const std::size_t last = std::min(count, first + block);
    float absmax = 0.0f;
    for (std::size_t i = first; i < last; ++i) absmax = std::max(absmax, std::fabs(values[i]));
    out.absmax[b] = absmax;
    // bitsandbytes' CPU path: x * (1 / max(absmax, 1e-38)), clamped to [-1, 1]
    const float inverse = 1.0f / std::max(absmax, 1e-38f);
    for (std::size_t i = first; i < last; ++i) {
      const float scaled = std::clamp(values[i] * inverse, -1.0f, 1.0f);
      codes[i] = code_of(scaled, buckets);
    }
  }
  for (std::size_t i = 0; i < out.codes.size(); ++i) {
    out.codes[i] = static_cast<std::uint8_t>((codes[2 * i] << 4) | codes[2 * i + 1]);
  }
  return out;
}

std::vector<float> dequantize_4bit(const FourBitQuantized& quantized, std::int64_t count, std::int64_t blocksize,
                                   FourBitType type) {
  check_blocksize(blocksize);
  const std::array<float, 16>& table = four_bit_table(type);
  std::vector<float> values(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint8_t byte = quantized.codes[i / 2];
    const std::uint8_t code = (i % 2 == 0) ? static_cast<std::uint8_t>(byte >> 4) : static_cast<std::uint8_t>(byte & 0xF);
    values[i] = table[code] * quantized.absmax[i / static_cast<std::size_t>(blocksize)];
  }
  return values;
}

}  // namespace fthost::plugins
