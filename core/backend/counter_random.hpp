#pragma once
// Counter-based random numbers: element i of a draw with seed s is a pure function of (s, i), so
// any device, thread count or recompute produces the same values (dropout masks that a backward
// pass or an activation recompute must reproduce, adapter initialisation). The mixer is
// SplitMix64's finaliser (Steele, Lea, Flood 2014), which passes BigCrush on a counter.

#include <cmath>
#include <cstdint>

// counter_mix and counter_uniform also run in CUDA kernels (dropout masks equal to the CPU's).
#ifdef __CUDACC__
#define FTHOST_HOST_DEVICE __host__ __device__
#else
#define FTHOST_HOST_DEVICE
#endif

namespace fthost::backend {

FTHOST_HOST_DEVICE constexpr std::uint64_t counter_mix(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits: every value is an exact f32.
FTHOST_HOST_DEVICE constexpr float counter_uniform(std::uint64_t seed, std::uint64_t index) {
  return static_cast<float>(counter_mix(seed, index) >> 40) * 0x1.0p-24f;
}

// Standard normal by Box-Muller over two independent 32-bit halves of one draw, in double.
inline double counter_normal(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t bits = counter_mix(seed, index);
  const double u1 = (static_cast<double>(bits >> 32) + 1.0) * 0x1.0p-32;  // (0, 1]: log is finite
  const double u2 = static_cast<double>(bits & 0xFFFFFFFFULL) * 0x1.0p-32;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

// Derives an independent stream's seed from a parent seed and a label (a site index, a step).
constexpr std::uint64_t counter_substream(std::uint64_t seed, std::uint64_t label) {
  return counter_mix(seed ^ 0xD1B54A32D192ED03ULL, label);
}

}  // namespace fthost::backend
