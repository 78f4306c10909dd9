// Memory and elementwise ops: fill, copy, transfers, add, scale, sum_of_squares, column blocks.

#include <random>
#include <stdexcept>

#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

using test::tensor_from;
using test::values_of;

TEST_CASE("fill, copy, upload and download") {
  auto backend = make_cpu_backend();
  Tensor tensor = backend->empty(DType::f32, {7, 13});
  backend->fill(tensor, 2.5f);
  for (float value : values_of(*backend, tensor)) CHECK(value == 2.5f);
  backend->fill(tensor, -0.0f);
  for (float value : values_of(*backend, tensor)) CHECK(std::signbit(value));

  std::mt19937 rng(1);
  const auto values = test::random_values(91, rng);
  Tensor source = tensor_from(*backend, {91}, values);
  backend->copy(tensor, source);  // same element count, other shape
  CHECK(values_of(*backend, tensor) == values);
  CHECK_THROWS_AS(backend->copy(tensor, backend->empty(DType::f32, {90})), std::logic_error);
  CHECK_THROWS_AS(backend->copy(tensor, backend->empty(DType::i32, {91})), std::logic_error);

  const std::vector<std::int32_t> ids{3, -1, 7};
  Tensor id_tensor = tensor_from(*backend, {3}, ids);
  std::vector<std::int32_t> back(3);
  backend->download(back.data(), id_tensor);
  CHECK(back == ids);
}

TEST_CASE("add, add_inplace and scale_inplace") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(2);
  const auto a = test::random_values(7 * 13, rng);
  const auto b = test::random_values(7 * 13, rng);
  Tensor ta = tensor_from(*backend, {7, 13}, a);
  Tensor tb = tensor_from(*backend, {7, 13}, b);
  Tensor out = backend->empty(DType::f32, {7, 13});
  backend->add(out, ta, tb);
  auto result = values_of(*backend, out);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(result[i] == a[i] + b[i]);

  backend->add(ta, ta, tb);  // out aliases a
  CHECK(values_of(*backend, ta) == result);

  backend->add_inplace(out, tb.reshape({91}));
  result = values_of(*backend, out);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(result[i] == (a[i] + b[i]) + b[i]);

  backend->scale_inplace(tb, -0.5f);
  result = values_of(*backend, tb);
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(result[i] == b[i] * -0.5f);

  CHECK_THROWS_AS(backend->add(out, ta, backend->empty(DType::f32, {7, 12})), std::logic_error);
  CHECK_THROWS_AS(backend->add_inplace(out, Tensor()), std::logic_error);
}

TEST_CASE("sum_of_squares is accumulated in f64") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(3);
  // Long enough for several parallel blocks, with an odd tail.
  const auto values = test::random_values(100003, rng, -3.0f, 3.0f);
  double expected = 0.0;
  for (float value : values) expected += static_cast<double>(value) * static_cast<double>(value);
  const double actual = backend->sum_of_squares(tensor_from(*backend, {100003}, values));
  CHECK(std::abs(actual - expected) <= 1e-12 * expected);
  CHECK(backend->sum_of_squares(backend->empty(DType::f32, {0})) == 0.0);
}

TEST_CASE("copy_columns and accumulate_columns move blocks of a fused [N, 3C] matrix") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(4);
  const std::int64_t rows = 7, width = 5, wide = 3 * width;
  const auto fused = test::random_values(static_cast<std::size_t>(rows * wide), rng);
  Tensor qkv = tensor_from(*backend, {rows, wide}, fused);
  Tensor k = backend->empty(DType::f32, {rows, width});
  backend->copy_columns(k, qkv, width);
  auto result = values_of(*backend, k);
  for (std::int64_t n = 0; n < rows; ++n) {
    for (std::int64_t j = 0; j < width; ++j) {
      CHECK(result[static_cast<std::size_t>(n * width + j)] == fused[static_cast<std::size_t>(n * wide + width + j)]);
    }
  }
  const auto addend = test::random_values(static_cast<std::size_t>(rows * width), rng);
  backend->accumulate_columns(qkv, tensor_from(*backend, {rows, width}, addend), 2 * width);
  result = values_of(*backend, qkv);
  for (std::int64_t n = 0; n < rows; ++n) {
    for (std::int64_t j = 0; j < wide; ++j) {
      const auto index = static_cast<std::size_t>(n * wide + j);
      const float expected =
          j < 2 * width ? fused[index] : fused[index] + addend[static_cast<std::size_t>(n * width + j - 2 * width)];
      CHECK(result[index] == expected);
    }
  }
  CHECK_THROWS_AS(backend->copy_columns(k, qkv, 2 * width + 1), std::logic_error);
  CHECK_THROWS_AS(backend->copy_columns(backend->empty(DType::f32, {rows - 1, width}), qkv, 0), std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
