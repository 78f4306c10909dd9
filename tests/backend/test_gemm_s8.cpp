// The int8 GEMM (LLM.int8()'s int8 x int8 -> int32): exact equality with an int64 reference, on
// oneDNN's kernel and on the fallback loop, at odd sizes and at the extremes of int8.

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "backend/cpu/cpu_gemm_s8.hpp"
#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

using Int8s = std::vector<std::int8_t>;
using Int32s = std::vector<std::int32_t>;

// Every int8 value, -128 and 127 included.
Int8s random_int8s(std::int64_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> distribution(-128, 127);
  Int8s values(static_cast<std::size_t>(count));
  for (std::int8_t& value : values) value = static_cast<std::int8_t>(distribution(rng));
  return values;
}

Tensor int8_tensor(Backend& backend, Shape shape, const Int8s& values) {
  Tensor tensor = backend.empty(DType::i8, std::move(shape));
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == values.size());
  backend.upload(tensor, values.data());
  return tensor;
}

Int32s int32s_of(Backend& backend, const Tensor& tensor) {
  Int32s values(static_cast<std::size_t>(tensor.numel()));
  backend.download(values.data(), tensor);
  return values;
}

// c[i,j] = sum_p a[i,p] b[j,p] in int64, narrowed only after the sum (the reference cannot overflow).
Int32s reference_gemm_s8(std::int64_t m, std::int64_t n, std::int64_t k, const Int8s& a, const Int8s& b) {
  Int32s c(static_cast<std::size_t>(m * n));
  bool fits = true;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* a_row = a.data() + i * k;
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int8_t* b_row = b.data() + j * k;
      std::int64_t sum = 0;
      for (std::int64_t p = 0; p < k; ++p) sum += std::int64_t{a_row[p]} * std::int64_t{b_row[p]};
      fits = fits && sum == static_cast<std::int32_t>(sum);
      c[static_cast<std::size_t>(i * n + j)] = static_cast<std::int32_t>(sum);
    }
  }
  REQUIRE(fits);
  return c;
}

// The backend's result and the fallback loop's, each equal to the reference element for element.
void check_exact(Backend& backend, std::int64_t m, std::int64_t n, std::int64_t k, const Int8s& a, const Int8s& b) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  cpu::S8Gemm probe;
  INFO("kernel: " << probe.kernel(m, n, k));
  const Int32s expected = reference_gemm_s8(m, n, k, a, b);
  Tensor c = backend.empty(DType::i32, {m, n});
  backend.gemm_s8(c, int8_tensor(backend, {m, k}, a), int8_tensor(backend, {n, k}, b));
  CHECK(int32s_of(backend, c) == expected);
  Int32s loop(static_cast<std::size_t>(m * n));
  cpu::gemm_s8_loop(m, n, k, a.data(), b.data(), loop.data());
  CHECK(loop == expected);
}

TEST_CASE("gemm_s8: equal to an int64 reference at odd sizes, on oneDNN and on the fallback loop") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(80);
  struct Size {
    std::int64_t m, n, k;
  };
  for (const Size size : {Size{1, 97, 4096}, Size{3, 97, 499}, Size{1, 1, 1}, Size{17, 64, 64}, Size{70, 97, 499},
                          Size{33, 200, 4096}}) {
    const Int8s a = random_int8s(size.m * size.k, rng);
    const Int8s b = random_int8s(size.n * size.k, rng);
    check_exact(*backend, size.m, size.n, size.k, a, b);
  }
  cpu::S8Gemm probe;
  MESSAGE("gemm_s8 kernels: [3, 3, 499] " << probe.kernel(3, 3, 499) << "; [3, 97, 499] " << probe.kernel(3, 97, 499)
                                          << "; [512, 4096, 4096] " << probe.kernel(512, 4096, 4096));
}

TEST_CASE("gemm_s8: sums beyond 2^24, which a kernel rounding them through f32 would change") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(82);
  // Values in {-128, 126, 127}: sums of k products of about 16000 each, mostly odd and so not
  // representable in f32 beyond 2^24.
  std::uniform_int_distribution<int> pick(0, 7);
  auto near_extremes = [&](std::int64_t count) {
    Int8s values(static_cast<std::size_t>(count));
    for (std::int8_t& value : values) {
      const int draw = pick(rng);
      value = static_cast<std::int8_t>(draw == 0 ? -128 : 126 + draw % 2);
    }
    return values;
  };
  struct Size {
    std::int64_t m, n, k;
  };
  for (const Size size : {Size{3, 3, 1041}, Size{1, 97, 4096}, Size{64, 97, 1041}, Size{40, 130, 4097}}) {
    check_exact(*backend, size.m, size.n, size.k, near_extremes(size.m * size.k), near_extremes(size.n * size.k));
  }
}

TEST_CASE("gemm_s8: -128 and 127 everywhere, up to the longest k whose sums fit int32") {
  auto backend = make_cpu_backend();
  // Rows of a and b: all -128, all 127, and alternating; every product is then +-2^14 or +-127^2,
  // where a kernel that saturates 16-bit pair sums (u8 x s8 without VNNI) or forgets its s8
  // compensation would be off.
  auto rows = [](std::int64_t count, std::int64_t k) {
    Int8s values(static_cast<std::size_t>(count * k));
    for (std::int64_t r = 0; r < count; ++r) {
      for (std::int64_t p = 0; p < k; ++p) {
        const bool low = r % 3 == 0 || (r % 3 == 2 && p % 2 == 0);
        values[static_cast<std::size_t>(r * k + p)] = static_cast<std::int8_t>(low ? -128 : 127);
      }
    }
    return values;
  };
  // 131071 * 2^14 = 2^31 - 2^14: c[0,0] = sum of (-128)^2 is the largest sum the op accepts.
  for (const std::int64_t k : {std::int64_t{499}, std::int64_t{4096}, std::int64_t{131071}}) {
    const std::int64_t m = k > 4096 ? 3 : 5, n = k > 4096 ? 3 : 97;
    check_exact(*backend, m, n, k, rows(m, k), rows(n, k));
  }
}

TEST_CASE("gemm_s8: a and c as [N,C] tensors, and k = 0 gives zeros") {
  auto backend = make_cpu_backend();
  std::mt19937 rng(81);
  const std::int64_t batch = 2, sequence = 3, n = 5, k = 7;
  const Int8s a = random_int8s(batch * sequence * k, rng);
  const Int8s b = random_int8s(n * k, rng);
  Tensor c = backend->empty(DType::i32, {batch, sequence, n});
  backend->gemm_s8(c, int8_tensor(*backend, {batch, sequence, k}, a), int8_tensor(*backend, {n, k}, b));
  CHECK(int32s_of(*backend, c) == reference_gemm_s8(batch * sequence, n, k, a, b));

  Tensor zeros = backend->empty(DType::i32, {3, 2});
  backend->gemm_s8(zeros, backend->empty(DType::i8, {3, 0}), backend->empty(DType::i8, {2, 0}));
  CHECK(int32s_of(*backend, zeros) == Int32s(6, 0));
}

TEST_CASE("gemm_s8: wrong dtypes and shapes are logic errors") {
  auto backend = make_cpu_backend();
  const std::int64_t m = 3, n = 4, k = 5;
  Tensor a = backend->empty(DType::i8, {m, k});
  Tensor b = backend->empty(DType::i8, {n, k});
  Tensor c = backend->empty(DType::i32, {m, n});
  backend->gemm_s8(c, a, b);  // the shapes below differ from these in one thing each
  CHECK_THROWS_AS(backend->gemm_s8(backend->empty(DType::f32, {m, n}), a, b), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(c, backend->empty(DType::u8, {m, k}), b), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(c, a, backend->empty(DType::i32, {n, k})), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(c, a, Tensor{}), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(c, a, backend->empty(DType::i8, {k, n})), std::logic_error);  // b is [k, n]
  CHECK_THROWS_AS(backend->gemm_s8(c, a, backend->empty(DType::i8, {1, n, k})), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(backend->empty(DType::i32, {n, m}), a, b), std::logic_error);
  CHECK_THROWS_AS(backend->gemm_s8(c, backend->empty(DType::i8, {}), b), std::logic_error);
  // k = 131072: (-128)^2 summed that often is 2^31, one past int32.
  const std::int64_t too_long = 131072;
  CHECK_THROWS_WITH_AS(backend->gemm_s8(c, backend->empty(DType::i8, {m, too_long}),
                                        backend->empty(DType::i8, {n, too_long})),
                       doctest::Contains("gemm_s8: k (131072) exceeds 131071"), std::logic_error);
}

}  // namespace
}  // namespace fthost::backend
