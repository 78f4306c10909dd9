#pragma once
// Emulated CUB (tests/cuda_emulation): cub::DeviceRadixSort::SortPairs with CUB's contract —
// the two-call temporary-storage protocol (a first call with d_temp_storage == nullptr sets
// temp_storage_bytes), keys ordered by bits [begin_bit, end_bit) only, stable (equal keys keep
// their input order), inputs left untouched, outputs and inputs not overlapping.
//
// It is a real LSD radix sort of 8-bit digits that uses the caller's temporary storage as its
// second buffer, so a temporary allocation that is too small or overlaps another array shows as
// a fault or as wrong results, as it would with CUB. Checks beyond CUB's: every array lies
// inside device memory and no two of them overlap (device faults, otherwise).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "cuda_runtime.h"
#include "fthost_cuda_emulation/emulation.hpp"

namespace cub {

namespace emulation_detail {

inline std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

struct Range {
  const char* name;
  const void* data;
  std::size_t bytes;
};

inline void check_ranges(const Range* ranges, int count) {
  namespace emu = fthost::cuda_emulation;
  for (int i = 0; i < count; ++i) {
    if (ranges[i].bytes == 0) continue;
    if (!emu::is_device_range(ranges[i].data, ranges[i].bytes)) {
      emu::device_fault("cub::DeviceRadixSort::SortPairs: " + std::string(ranges[i].name) + " (" +
                        std::to_string(ranges[i].bytes) + " bytes from " + emu::describe_pointer(ranges[i].data) +
                        ") does not lie inside one device allocation");
    }
    for (int j = 0; j < i; ++j) {
      if (ranges[j].bytes == 0) continue;
      const auto a = reinterpret_cast<std::uintptr_t>(ranges[i].data);
      const auto b = reinterpret_cast<std::uintptr_t>(ranges[j].data);
      if (a < b + ranges[j].bytes && b < a + ranges[i].bytes) {
        emu::device_fault("cub::DeviceRadixSort::SortPairs: " + std::string(ranges[i].name) + " and " +
                          ranges[j].name + " overlap");
      }
    }
  }
}

// The key's bits as an unsigned integer that orders as the key does (signed: sign bit flipped).
template <typename Key>
auto ordered_bits(Key key) {
  using Bits = std::make_unsigned_t<Key>;
  auto bits = static_cast<Bits>(key);
  if constexpr (std::is_signed_v<Key>) bits = static_cast<Bits>(bits ^ (Bits{1} << (8 * sizeof(Key) - 1)));
  return bits;
}

}  // namespace emulation_detail

struct DeviceRadixSort {
  template <typename KeyT, typename ValueT, typename NumItemsT>
  static cudaError_t SortPairs(void* d_temp_storage, std::size_t& temp_storage_bytes, const KeyT* d_keys_in,
                               KeyT* d_keys_out, const ValueT* d_values_in, ValueT* d_values_out,
                               NumItemsT num_items, int begin_bit = 0, int end_bit = sizeof(KeyT) * 8,
                               cudaStream_t stream = nullptr) {
    static_assert(std::is_integral_v<KeyT>, "the emulated radix sort handles integer keys");
    namespace emu = fthost::cuda_emulation;
    namespace detail = emulation_detail;
    constexpr int kKeyBits = static_cast<int>(sizeof(KeyT) * 8);
    bool negative = false;
    if constexpr (std::is_signed_v<NumItemsT>) negative = num_items < 0;
    if (negative || begin_bit < 0 || end_bit > kKeyBits || begin_bit > end_bit) {
      emu::report("cub::DeviceRadixSort::SortPairs: num_items " + std::to_string(num_items) + ", bits [" +
                  std::to_string(begin_bit) + ", " + std::to_string(end_bit) + ")");
      return emu::record_error(cudaErrorInvalidValue);
    }
    if (!emu::is_valid_stream(stream)) return emu::record_error(cudaErrorInvalidResourceHandle);
    const auto count = static_cast<std::size_t>(num_items);
    const std::size_t key_bytes = count * sizeof(KeyT), value_bytes = count * sizeof(ValueT);
    const std::size_t required = detail::aligned(key_bytes) + detail::aligned(value_bytes) + 256;
    if (d_temp_storage == nullptr) {
      temp_storage_bytes = required;
      return cudaSuccess;
    }
    if (temp_storage_bytes < required) {
      emu::report("cub::DeviceRadixSort::SortPairs: " + std::to_string(temp_storage_bytes) +
                  " bytes of temporary storage, the size query asked for " + std::to_string(required));
      return emu::record_error(cudaErrorInvalidValue);
    }
    const detail::Range ranges[] = {{"d_keys_in", d_keys_in, key_bytes},
                                    {"d_keys_out", d_keys_out, key_bytes},
                                    {"d_values_in", d_values_in, value_bytes},
                                    {"d_values_out", d_values_out, value_bytes},
                                    {"d_temp_storage", d_temp_storage, temp_storage_bytes}};
    detail::check_ranges(ranges, 5);
    if (count == 0) return cudaSuccess;

    auto* temp_keys = static_cast<KeyT*>(d_temp_storage);
    auto* temp_values = reinterpret_cast<ValueT*>(static_cast<unsigned char*>(d_temp_storage) + detail::aligned(key_bytes));
    const int passes = (end_bit - begin_bit + 7) / 8;
    // Ping-pong between the output and the temporary arrays, ending in the output.
    KeyT* keys[2] = {d_keys_out, temp_keys};
    ValueT* values[2] = {d_values_out, temp_values};
    int target = passes % 2 == 1 ? 0 : 1;
    const KeyT* source_keys = d_keys_in;
    const ValueT* source_values = d_values_in;
    if (passes == 0) {
      std::memcpy(d_keys_out, d_keys_in, key_bytes);
      std::memcpy(d_values_out, d_values_in, value_bytes);
      return cudaSuccess;
    }
    for (int pass = 0; pass < passes; ++pass) {
      const int shift = begin_bit + 8 * pass;
      const int width = end_bit - shift < 8 ? end_bit - shift : 8;
      const auto mask = static_cast<unsigned>((1u << width) - 1);
      const auto digit = [&](KeyT key) { return static_cast<unsigned>(detail::ordered_bits(key) >> shift) & mask; };
      std::array<std::size_t, 257> offsets{};
      for (std::size_t i = 0; i < count; ++i) ++offsets[digit(source_keys[i]) + 1];
      for (std::size_t d = 1; d < offsets.size(); ++d) offsets[d] += offsets[d - 1];
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = offsets[digit(source_keys[i])]++;
        keys[target][at] = source_keys[i];
        values[target][at] = source_values[i];
      }
      source_keys = keys[target];
      source_values = values[target];
      target ^= 1;
    }
    return cudaSuccess;
  }
};

}  // namespace cub
