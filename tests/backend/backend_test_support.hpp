#pragma once
// What the backend tests share: random inputs, tensors to and from host vectors, comparison with
// stated tolerances, and central finite differences for gradient checks.
//
// How an op is tested (every op, tests/backend/test_*.cpp):
//   forward   against a plain double-precision reference written in the test, on random inputs
//             of odd sizes;
//   backward  against central differences, in double, of loss = sum(reference_forward(x) * R)
//             for a random projection R, which the kernel receives as dout; for every input
//             and parameter. Also: a second call doubles the gradients (backward accumulates),
//             and an undefined gradient output is skipped without changing the others.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cpu/cpu_backend.hpp"

namespace fthost::backend::test {

// Tolerances, as |actual - expected| <= tolerance * max(1, |expected|). The worst errors measured
// at the tests' sizes are ~2e-7 forward and ~5e-7 for gradients (layernorm's dweight, through
// the f32 rounding of the saved mean and rstd); the tolerances leave a margin of 4x or more.
// f32 kernels against a double reference of the same math:
constexpr double kForwardTolerance = 2e-6;
// f32 analytic gradients against double central differences (step 1e-4: truncation ~1e-8):
constexpr double kGradientTolerance = 1e-5;
constexpr double kFiniteDifferenceStep = 1e-4;

using Vector = std::vector<double>;

// Uniform in [low, high); `count` of any integer type (sizes come as int64 and size_t).
template <typename Count>
std::vector<float> random_values(Count count, std::mt19937& rng, float low = -1.0f, float high = 1.0f) {
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(static_cast<std::size_t>(count));
  for (float& value : values) value = distribution(rng);
  return values;
}

inline Vector to_double(const std::vector<float>& values) { return Vector(values.begin(), values.end()); }

inline Tensor tensor_from(Backend& backend, Shape shape, const std::vector<float>& values) {
  Tensor tensor = backend.empty(DType::f32, std::move(shape));
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == values.size());
  backend.upload(tensor, values.data());
  return tensor;
}

inline Tensor tensor_from(Backend& backend, Shape shape, const std::vector<std::int32_t>& values) {
  Tensor tensor = backend.empty(DType::i32, std::move(shape));
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == values.size());
  backend.upload(tensor, values.data());
  return tensor;
}

inline std::vector<float> values_of(Backend& backend, const Tensor& tensor) {
  std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
  backend.download(values.data(), tensor);
  return values;
}

// Checks every element; reports the worst one with its index.
inline void check_close(const std::vector<float>& actual, const Vector& expected, double tolerance,
                        const std::string& what) {
  REQUIRE_MESSAGE(actual.size() == expected.size(), what);
  double worst = 0.0;
  std::size_t worst_index = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double error = std::abs(static_cast<double>(actual[i]) - expected[i]) / std::max(1.0, std::abs(expected[i]));
    if (!(error <= worst)) {  // also catches NaN
      worst = std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
      worst_index = i;
    }
  }
  INFO(what << ": worst element " << worst_index << " is " << (actual.empty() ? 0.0f : actual[worst_index])
            << ", expected " << (expected.empty() ? 0.0 : expected[worst_index]) << " (relative error " << worst
            << ", tolerance " << tolerance << ")");
  CHECK(worst <= tolerance);
}

inline void check_close(const std::vector<float>& actual, const std::vector<float>& expected, double tolerance,
                        const std::string& what) {
  check_close(actual, to_double(expected), tolerance, what);
}

inline Vector scaled(const std::vector<float>& values, double factor) {
  Vector result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[i] = static_cast<double>(values[i]) * factor;
  return result;
}

// d/dx of sum(forward(x) * projection), by central differences in double.
inline Vector numeric_gradient(const std::function<Vector(const Vector&)>& forward, Vector x,
                               const Vector& projection) {
  Vector gradient(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kFiniteDifferenceStep;
    const Vector plus = forward(x);
    x[i] = saved - kFiniteDifferenceStep;
    const Vector minus = forward(x);
    x[i] = saved;
    double difference = 0.0;
    for (std::size_t j = 0; j < plus.size(); ++j) difference += (plus[j] - minus[j]) * projection[j];
    gradient[i] = difference / (2.0 * kFiniteDifferenceStep);
  }
  return gradient;
}

// The same, at the listed coordinates only (for inputs too large to perturb one by one);
// returns the derivatives in the order of `indices`.
inline Vector numeric_gradient_at(const std::function<Vector(const Vector&)>& forward, Vector x,
                                  const Vector& projection, const std::vector<std::size_t>& indices) {
  Vector gradient;
  for (std::size_t i : indices) {
    const double saved = x[i];
    x[i] = saved + kFiniteDifferenceStep;
    const Vector plus = forward(x);
    x[i] = saved - kFiniteDifferenceStep;
    const Vector minus = forward(x);
    x[i] = saved;
    double difference = 0.0;
    for (std::size_t j = 0; j < plus.size(); ++j) difference += (plus[j] - minus[j]) * projection[j];
    gradient.push_back(difference / (2.0 * kFiniteDifferenceStep));
  }
  return gradient;
}

inline std::vector<std::size_t> sample_indices(std::size_t size, std::size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<std::size_t> pick(0, size - 1);
  std::vector<std::size_t> indices(count);
  for (std::size_t& index : indices) index = pick(rng);
  return indices;
}

inline std::vector<float> gather(const std::vector<float>& values, const std::vector<std::size_t>& indices) {
  std::vector<float> picked;
  for (std::size_t i : indices) picked.push_back(values[i]);
  return picked;
}

// Bit-for-bit equality (distinguishes -0 from +0 and compares NaNs by their bits).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  }
  return true;
}

}  // namespace fthost::backend::test
