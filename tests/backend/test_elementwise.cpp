// Memory and elementwise ops: fill, copy, transfers, add, scale, sum_of_squares, column blocks.

#include <bit>
#include <cmath>
#include <random>
#include <stdexcept>

#include "backend/float16.hpp"
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

TEST_CASE("round_to: bf16 and f16 round to nearest, ties to even, as GPU conversions do") {
  using fthost::backend::round_to_bf16;
  using fthost::backend::round_to_f16;
  // bf16: spacing 2^-7 at 1
  CHECK(round_to_bf16(1.0f) == 1.0f);
  CHECK(round_to_bf16(1.0f + 0x1.0p-8f) == 1.0f);                       // tie -> even (1.0)
  CHECK(round_to_bf16(1.0f + 3 * 0x1.0p-8f) == 1.0f + 0x1.0p-6f);      // tie -> even (mantissa 2)
  CHECK(round_to_bf16(1.0f + 0x1.0p-8f + 0x1.0p-20f) == 1.0f + 0x1.0p-7f);  // above the tie -> up
  CHECK((std::bit_cast<std::uint32_t>(round_to_bf16(-3.0e38f)) & 0xFFFFu) == 0u);  // a bf16 value
  CHECK(std::abs(round_to_bf16(-3.0e38f) + 3.0e38f) <= 0x1.0p120f);                // within half a bf16 ulp (2^121)
  CHECK(std::isinf(round_to_bf16(3.4e38f)));                            // past bf16's largest -> inf
  CHECK(std::isnan(round_to_bf16(NAN)));
  // f16: max 65504, spacing 2^-10 at 1, subnormals 2^-24
  CHECK(round_to_f16(65504.0f) == 65504.0f);
  CHECK(round_to_f16(65519.0f) == 65504.0f);
  CHECK(std::isinf(round_to_f16(65520.0f)));
  CHECK(round_to_f16(-1.0e6f) == -INFINITY);
  CHECK(round_to_f16(1.0f + 0x1.0p-11f) == 1.0f);
  CHECK(round_to_f16(1.0f + 3 * 0x1.0p-11f) == 1.0f + 0x1.0p-9f);
  CHECK(round_to_f16(0x1.0p-25f) == 0.0f);                              // tie between 0 and 2^-24 -> 0
  CHECK(round_to_f16(3 * 0x1.0p-25f) == 0x1.0p-23f);                   // tie -> even subnormal
  CHECK(round_to_f16(0x1.0p-14f) == 0x1.0p-14f);                       // smallest normal
#if defined(__FLT16_MAX__)
  // The compiler's own _Float16 conversion (IEEE, ties to even) over a sweep of magnitudes.
  std::uint64_t state = 1;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const float value = std::ldexp(static_cast<float>(static_cast<std::int32_t>(state >> 32)) / 2147483648.0f,
                                   static_cast<int>((state >> 8) % 48) - 30);
    CAPTURE(value);
    REQUIRE(round_to_f16(value) == static_cast<float>(static_cast<_Float16>(value)));
  }
#endif
  // The backend op applies the same rounding to every element.
  auto backend = fthost::backend::make_cpu_backend();
  auto tensor = backend->empty(fthost::backend::DType::f32, {3});
  const float values[3] = {1.0f + 3 * 0x1.0p-8f, 70000.0f, 0x1.0p-26f};
  backend->upload(tensor, values);
  backend->round_to(tensor, fthost::backend::DType::bf16);
  float out[3];
  backend->download(out, tensor);
  CHECK(out[0] == 1.0f + 0x1.0p-6f);
  CHECK(out[1] == round_to_bf16(70000.0f));
  CHECK(out[2] == 0x1.0p-26f);
  backend->upload(tensor, values);
  backend->round_to(tensor, fthost::backend::DType::f16);
  backend->download(out, tensor);
  CHECK(std::isinf(out[1]));
  CHECK(out[2] == 0.0f);
  CHECK_THROWS_AS(backend->round_to(tensor, fthost::backend::DType::i8), std::logic_error);
}
