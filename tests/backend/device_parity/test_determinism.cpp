// The backend under test repeats itself: the same op on the same inputs gives the same bits,
// run after run (no floating-point atomics, fixed reduction orders). Checked for the ops that
// reduce across threads or blocks.

#include <cstring>
#include <functional>
#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

using test::tensor_from;
using test::values_of;

// Runs `op` (which computes into fresh outputs and returns them) twice on the device and
// compares every output's bits.
void check_repeats(const std::function<std::vector<Tensor>()>& op, const std::string& what) {
  Backend& device = device_backend();
  const std::vector<Tensor> first = op();
  const std::vector<Tensor> second = op();
  REQUIRE(first.size() == second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO(what << ": output " << i << " " << shape_to_string(first[i].shape()));
    CHECK(test::same_bits(values_of(device, first[i]), values_of(device, second[i])));
  }
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  return tensor_from(device_backend(), shape, test::random_values(shape_elements(shape), rng));
}

TEST_CASE("parity: the device repeats attention forward and backward bit for bit") {
  Backend& device = device_backend();
  std::mt19937 rng(100);
  constexpr std::int64_t B = 2, T = 130, H = 4, KV = 2;
  for (std::int64_t D : {std::int64_t{64}, std::int64_t{128}}) {
    CAPTURE(D);
    std::vector<std::int32_t> starts;
    for (std::int64_t t = 0; t < B * T; ++t) starts.push_back(t < T || t % T < 50 ? 0 : 50);  // row 1: two documents
    Tensor doc_start = tensor_from(device, {B, T}, starts);
    Tensor q = random_tensor({B, T, H, D}, rng);
    Tensor k = random_tensor({B, T, KV, D}, rng);
    Tensor v = random_tensor({B, T, KV, D}, rng);
    Tensor dout = random_tensor({B, T, H, D}, rng);
    const auto gradient_start = test::random_values(B * T * H * D, rng);
    const float scale = 0.3f;
    check_repeats(
        [&] {
          Tensor out = device.empty(DType::f32, {B, T, H, D});
          Tensor lse = device.empty(DType::f32, {B, H, T});
          device.attention_forward(out, lse, q, k, v, doc_start, scale);
          Tensor dq = tensor_from(device, {B, T, H, D}, gradient_start);
          Tensor dk = device.zeros(DType::f32, {B, T, KV, D});
          Tensor dv = device.zeros(DType::f32, {B, T, KV, D});
          device.attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc_start, scale);
          return std::vector<Tensor>{out, lse, dq, dk, dv};
        },
        "attention");
  }
}

TEST_CASE("parity: the device repeats norm gradients bit for bit") {
  Backend& device = device_backend();
  std::mt19937 rng(101);
  for (const Shape& shape : {Shape{300, 1000}, Shape{2, 8193}}) {
    CAPTURE(shape_to_string(shape));
    const std::int64_t C = shape.back(), N = shape_elements(shape) / C;
    Tensor inp = random_tensor(shape, rng);
    Tensor weight = random_tensor({C}, rng);
    Tensor dout = random_tensor(shape, rng);
    check_repeats(
        [&] {
          Tensor out = device.empty(DType::f32, shape);
          Tensor mean = device.empty(DType::f32, {N});
          Tensor rstd = device.empty(DType::f32, {N});
          Tensor dinp = device.zeros(DType::f32, shape);
          Tensor dweight = device.zeros(DType::f32, {C});
          Tensor dbias = device.zeros(DType::f32, {C});
          device.rmsnorm_forward(out, rstd, inp, weight, 1e-5f);
          device.rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd);
          Tensor ln_out = device.empty(DType::f32, shape);
          Tensor ln_dinp = device.zeros(DType::f32, shape);
          Tensor ln_dweight = device.zeros(DType::f32, {C});
          device.layernorm_forward(ln_out, mean, rstd, inp, weight, weight, 1e-5f);
          device.layernorm_backward(ln_dinp, ln_dweight, dbias, dout, inp, weight, mean, rstd);
          return std::vector<Tensor>{out, dinp, dweight, ln_out, mean, rstd, ln_dinp, ln_dweight, dbias};
        },
        "norms");
  }
}

TEST_CASE("parity: the device repeats embedding gradients, bias gradients and losses bit for bit") {
  Backend& device = device_backend();
  std::mt19937 rng(102);
  constexpr std::int64_t N = 300, C = 1000, V = 50, OC = 333, vocabulary = 5000;
  auto ids = random_integers(N, 0, V - 1, rng);
  for (std::size_t n = 0; n < ids.size(); n += 2) ids[n] = 7;  // one id on half the rows
  Tensor id_tensor = tensor_from(device, {N}, ids);
  Tensor dout = random_tensor({N, C}, rng);
  Tensor inp = random_tensor({N, C}, rng);
  Tensor weight = random_tensor({OC, C}, rng);
  Tensor linear_dout = random_tensor({N, OC}, rng);
  const auto logits = test::random_values(N * vocabulary, rng, -5.0f, 5.0f);
  Tensor targets = tensor_from(device, {N}, random_integers(N, 0, vocabulary - 1, rng));
  check_repeats(
      [&] {
        Tensor dtable = device.zeros(DType::f32, {V, C});
        device.embedding_backward(dtable, id_tensor, dout);
        Tensor dbias = device.zeros(DType::f32, {OC});
        device.linear_backward(Tensor(), Tensor(), dbias, linear_dout, inp, weight);
        Tensor logit_tensor = tensor_from(device, {N, vocabulary}, logits);
        Tensor losses = device.empty(DType::f32, {N});
        device.cross_entropy_rows(losses, logit_tensor, targets, 0.5f);
        return std::vector<Tensor>{dtable, dbias, losses, logit_tensor};
      },
      "embedding, linear bias, cross-entropy");
}

TEST_CASE("parity: the device repeats sum_of_squares bit for bit") {
  std::mt19937 rng(103);
  for (std::int64_t n : {std::int64_t{1000}, std::int64_t{3000017}}) {
    CAPTURE(n);
    Tensor tensor = random_tensor({n}, rng);
    const double first = device_backend().sum_of_squares(tensor);
    const double second = device_backend().sum_of_squares(tensor);
    CHECK(std::memcmp(&first, &second, sizeof first) == 0);
  }
}

}  // namespace
}  // namespace fthost::backend::parity
