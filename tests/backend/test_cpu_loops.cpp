// The CPU backend's loop helpers: exp_f32's accuracy over the whole f32 range, the lane
// reductions against plain sums.

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "backend/cpu/cpu_loops.hpp"
#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

// Distance in units in the last place between two finite floats of the same sign.
std::int64_t ulp_distance(float a, float b) {
  return std::abs(static_cast<std::int64_t>(std::bit_cast<std::int32_t>(a)) -
                  static_cast<std::int64_t>(std::bit_cast<std::int32_t>(b)));
}

TEST_CASE("exp_f32 is within 1 ulp of the correctly rounded e^x where the result is a normal float") {
  std::int64_t worst = 0;
  float worst_x = 0.0f;
  auto check = [&](float x) {
    const auto exact = static_cast<float>(std::exp(static_cast<double>(x)));
    if (exact < std::numeric_limits<float>::min() || std::isinf(exact)) return;
    const std::int64_t distance = ulp_distance(cpu::exp_f32(x), exact);
    if (distance > worst) {
      worst = distance;
      worst_x = x;
    }
  };
  for (float x = -87.5f; x <= 88.8f; x += 1.0e-4f) check(x);
  std::mt19937 rng(80);
  for (float x : test::random_values(1'000'000, rng, -20.0f, 20.0f)) check(x);
  INFO("worst: " << worst << " ulp at x = " << worst_x);
  CHECK(worst <= 1);
}

TEST_CASE("exp_f32 at the edges: 1 at 0, 0 below the normal range, inf above, NaN stays NaN") {
  CHECK(cpu::exp_f32(0.0f) == 1.0f);
  CHECK(cpu::exp_f32(-0.0f) == 1.0f);
  CHECK(cpu::exp_f32(-100.0f) == 0.0f);
  CHECK(cpu::exp_f32(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isinf(cpu::exp_f32(100.0f)));
  CHECK(std::isinf(cpu::exp_f32(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(cpu::exp_f32(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isfinite(cpu::exp_f32(88.72f)));  // just below FLT_MAX: 2^128 is built in two halves
  CHECK(cpu::exp_f32(88.72f) > 3.3e38f);
  CHECK(cpu::exp_f32(-87.3f) > 0.0f);
}

TEST_CASE("lane reductions agree with plain sums") {
  std::mt19937 rng(81);
  for (std::int64_t n : {1, 7, 16, 17, 64, 1000, 1023}) {
    CAPTURE(n);
    const auto x = test::random_values(n, rng);
    const auto y = test::random_values(n, rng);
    double dot = 0.0, squares = 0.0, sum = 0.0;
    float max_value = x[0];
    for (std::size_t i = 0; i < x.size(); ++i) {
      dot += static_cast<double>(x[i]) * static_cast<double>(y[i]);
      squares += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      sum += static_cast<double>(x[i]);
      max_value = std::max(max_value, x[i]);
    }
    CHECK(std::abs(cpu::dot_f64(x.data(), y.data(), n) - dot) <= 1e-12 * (1.0 + squares));
    CHECK(std::abs(cpu::sum_f64(x.data(), n) - sum) <= 1e-12 * static_cast<double>(n));
    CHECK(cpu::max_f32(x.data(), n) == max_value);
  }
}

}  // namespace
}  // namespace fthost::backend
