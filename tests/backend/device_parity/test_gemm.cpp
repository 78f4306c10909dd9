// GEMM (f32 and bf16 matmul precision), the linear layer and the int8 GEMM: device against CPU.

#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

struct GemmShape {
  std::int64_t m, n, k;
};
const std::vector<GemmShape> kGemmShapes = {{1, 1, 1}, {33, 65, 17}, {7, 1000, 3}, {300, 500, 1000}};

// c = alpha op(a) op(b) + beta c for every transpose combination, c pre-filled (read when beta
// is not 0); then beta = 0.
void check_gemms(const Tolerance& tolerance, const std::string& what, std::mt19937& rng) {
  for (const GemmShape& s : kGemmShapes) {
    for (bool transpose_a : {false, true}) {
      for (bool transpose_b : {false, true}) {
        CAPTURE(s.m);
        CAPTURE(s.n);
        CAPTURE(s.k);
        CAPTURE(transpose_a);
        CAPTURE(transpose_b);
        Twin a = random_twin(transpose_a ? Shape{s.k, s.m} : Shape{s.m, s.k}, rng);
        Twin b = random_twin(transpose_b ? Shape{s.n, s.k} : Shape{s.k, s.n}, rng);
        Twin c = random_twin({s.m, s.n}, rng);
        on_both([&](Backend& backend, Side side) {
          backend.gemm(transpose_a, transpose_b, 0.5f, a[side], b[side], 0.75f, c[side]);
        });
        check_parity(c, tolerance, what + " (alpha 0.5, beta 0.75)");
        on_both([&](Backend& backend, Side side) {
          backend.gemm(transpose_a, transpose_b, 1.0f, a[side], b[side], 0.0f, c[side]);
        });
        check_parity(c, tolerance, what + " (alpha 1, beta 0)");
      }
    }
  }
}

TEST_CASE("parity: gemm f32") {
  std::mt19937 rng(20);
  check_gemms(tolerance::kGemm, "gemm f32", rng);
}

TEST_CASE("parity: gemm in bf16 matmul precision") {
  std::mt19937 rng(21);
  {
    MatmulPrecision bf16(DType::bf16);
    check_gemms(tolerance::kGemmBf16, "gemm bf16", rng);
  }
  // The tolerance tells bf16 from f32: the CPU's bf16 result is out of it from the f32 one, so a
  // device that ignored the precision (or computed in f16 or TF32 instead) would fail above.
  Twin a = random_twin({300, 1000}, rng);
  Twin b = random_twin({1000, 500}, rng);
  Tensor in_f32 = reference_backend().empty(DType::f32, {300, 500});
  Tensor in_bf16 = reference_backend().empty(DType::f32, {300, 500});
  reference_backend().gemm(false, false, 1.0f, a.reference, b.reference, 0.0f, in_f32);
  {
    MatmulPrecision bf16(DType::bf16);
    reference_backend().gemm(false, false, 1.0f, a.reference, b.reference, 0.0f, in_bf16);
  }
  const Comparison apart = compare(download_as<float>(reference_backend(), in_f32),
                                   download_as<float>(reference_backend(), in_bf16), tolerance::kGemmBf16);
  INFO("the CPU's f32 and bf16 GEMMs differ by " << apart.worst_ratio << " x the bf16 tolerance");
  CHECK(apart.worst_ratio > 10.0);
}

struct LinearShape {
  Shape inp;  // [..., C]
  std::int64_t out_channels;
};

void check_linear(const Tolerance& tolerance, const std::string& what, std::mt19937& rng) {
  for (const LinearShape& s : {LinearShape{{7, 13}, 5}, LinearShape{{2, 150, 1000}, 333}, LinearShape{{1, 1}, 1}}) {
    CAPTURE(shape_to_string(s.inp));
    CAPTURE(s.out_channels);
    const std::int64_t C = s.inp.back(), OC = s.out_channels, N = shape_elements(s.inp) / C;
    Twin inp = random_twin(s.inp, rng);
    Twin weight = random_twin({OC, C}, rng);
    Twin bias = random_twin({OC}, rng);
    Twin out = filled_twin({N, OC}, std::nanf(""));
    on_both([&](Backend& backend, Side side) { backend.linear_forward(out[side], inp[side], weight[side], bias[side]); });
    check_parity(out, tolerance, what + " linear_forward with bias");
    on_both([&](Backend& backend, Side side) {
      backend.linear_forward(out[side], inp[side], weight[side], Tensor());
    });
    check_parity(out, tolerance, what + " linear_forward without bias");

    Twin dout = random_twin({N, OC}, rng);
    Twin dinp = random_twin(s.inp, rng);
    Twin dweight = random_twin({OC, C}, rng);
    Twin dbias = random_twin({OC}, rng);
    on_both([&](Backend& backend, Side side) {
      backend.linear_backward(dinp[side], dweight[side], dbias[side], dout[side], inp[side], weight[side]);
    });
    check_parity(dinp, tolerance, what + " linear_backward dinp (accumulated)");
    check_parity(dweight, tolerance, what + " linear_backward dweight (accumulated)");
    check_parity(dbias, tolerance::kGemm, what + " linear_backward dbias (accumulated, f32 column sums)");

    // Each gradient alone: the others are not wanted and must not be computed or touched.
    const Twin none = not_wanted();
    on_both([&](Backend& backend, Side side) {
      backend.linear_backward(dinp[side], none[side], none[side], dout[side], inp[side], weight[side]);
      backend.linear_backward(none[side], dweight[side], none[side], dout[side], inp[side], weight[side]);
      backend.linear_backward(none[side], none[side], dbias[side], dout[side], inp[side], weight[side]);
      backend.linear_backward(none[side], none[side], none[side], dout[side], inp[side], weight[side]);
    });
    check_parity(dinp, tolerance, what + " linear_backward dinp alone");
    check_parity(dweight, tolerance, what + " linear_backward dweight alone");
    check_parity(dbias, tolerance::kGemm, what + " linear_backward dbias alone");
  }
}

TEST_CASE("parity: linear forward and backward, f32") {
  std::mt19937 rng(22);
  check_linear(tolerance::kGemm, "f32", rng);
}

TEST_CASE("parity: linear forward and backward, bf16 matmul precision") {
  std::mt19937 rng(23);
  MatmulPrecision bf16(DType::bf16);
  check_linear(tolerance::kGemmBf16, "bf16", rng);
}

TEST_CASE("parity: gemm_s8 is exact") {
  std::mt19937 rng(24);
  struct Case {
    Shape a;  // [..., k]
    std::int64_t n;
  };
  for (const Case& c : {Case{{1, 5}, 7}, Case{{33, 65}, 17}, Case{{2, 150, 1000}, 333}, Case{{65, 4099}, 130}}) {
    CAPTURE(shape_to_string(c.a));
    CAPTURE(c.n);
    const std::int64_t k = c.a.back(), m = shape_elements(c.a) / k;
    Twin a = twin(c.a, random_integers<std::int8_t>(m * k, -128, 127, rng));
    Twin b = twin({c.n, k}, random_integers<std::int8_t>(c.n * k, -128, 127, rng));
    Twin out = twin({m, c.n}, std::vector<std::int32_t>(static_cast<std::size_t>(m * c.n), -7));
    on_both([&](Backend& backend, Side side) { backend.gemm_s8(out[side], a[side], b[side]); });
    check_equal_i32(out, "gemm_s8");
  }
  // The extremes: sums of 1041 products of -128 * -128 (17055744, beyond f32's exact integers)
  // and of 127 * -128.
  const std::int64_t k = 1041;
  for (std::int8_t a_value : {std::int8_t{-128}, std::int8_t{127}}) {
    CAPTURE(static_cast<int>(a_value));
    Twin a = twin({3, k}, std::vector<std::int8_t>(static_cast<std::size_t>(3 * k), a_value));
    Twin b = twin({5, k}, std::vector<std::int8_t>(static_cast<std::size_t>(5 * k), std::int8_t{-128}));
    Twin out = twin({3, 5}, std::vector<std::int32_t>(15, 0));
    on_both([&](Backend& backend, Side side) { backend.gemm_s8(out[side], a[side], b[side]); });
    check_equal_i32(out, "gemm_s8 extremes");
    CHECK(download_as<std::int32_t>(device_backend(), out.device)[0] == k * a_value * -128);
  }
}

}  // namespace
}  // namespace fthost::backend::parity
