// Indices from data out of range (a token id, a target, a doc_start) make the backend under test
// throw std::out_of_range, and it works normally afterwards. A device backend checks indices in
// its kernels and raises at its next synchronisation, so each check runs the op and then
// downloads its output. Each test uses its own instance of the backend under test, so that an
// error left recorded would not fail the tests that follow.

#include <functional>
#include <random>
#include <stdexcept>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

using test::tensor_from;

// Runs `op` and then downloads `output`: where a device reports the error, the throw comes from
// one or the other.
void run_and_download(Backend& backend, const std::function<void()>& op, const Tensor& output) {
  op();
  std::vector<float> host(static_cast<std::size_t>(output.numel()));
  backend.download(host.data(), output);
}

TEST_CASE("parity: an out-of-range token id throws std::out_of_range") {
  auto backend = make_device_backend();
  std::mt19937 rng(90);
  constexpr std::int64_t V = 50, C = 33, N = 300;
  Tensor table = tensor_from(*backend, {V, C}, test::random_values(V * C, rng));
  Tensor out = backend->empty(DType::f32, {N, C});
  Tensor dout = tensor_from(*backend, {N, C}, test::random_values(N * C, rng));
  for (std::int32_t bad : {std::int32_t{V}, std::int32_t{-1}, std::int32_t{1 << 30}}) {
    CAPTURE(bad);
    auto ids = random_integers(N, 0, V - 1, rng);
    ids[static_cast<std::size_t>(N - 7)] = bad;  // late, in some block other than the first
    Tensor bad_ids = tensor_from(*backend, {N}, ids);
    CHECK_THROWS_AS(run_and_download(*backend, [&] { backend->embedding_forward(out, bad_ids, table); }, out),
                    std::out_of_range);
    Tensor dtable = backend->zeros(DType::f32, {V, C});
    CHECK_THROWS_AS(run_and_download(*backend, [&] { backend->embedding_backward(dtable, bad_ids, dout); }, dtable),
                    std::out_of_range);
  }
  // Then valid ids work, and give what the CPU gives.
  const auto ids = random_integers(N, 0, V - 1, rng);
  Tensor good_ids = tensor_from(*backend, {N}, ids);
  CHECK_NOTHROW(run_and_download(*backend, [&] { backend->embedding_forward(out, good_ids, table); }, out));
  const auto table_values = test::values_of(*backend, table);
  const auto out_values = test::values_of(*backend, out);
  std::vector<float> expected;
  for (std::int32_t id : ids) {
    const auto row = table_values.begin() + static_cast<std::ptrdiff_t>(id) * C;
    expected.insert(expected.end(), row, row + C);
  }
  CHECK(test::same_bits(out_values, expected));
}

TEST_CASE("parity: an out-of-range target throws std::out_of_range") {
  auto backend = make_device_backend();
  std::mt19937 rng(91);
  constexpr std::int64_t V = 5000, N = 37;
  Tensor losses = backend->empty(DType::f32, {N});
  for (std::int32_t bad : {std::int32_t{V}, std::int32_t{-1}, std::int32_t{-101}}) {
    for (float gradient_scale : {0.0f, 1.0f}) {
      CAPTURE(bad);
      CAPTURE(gradient_scale);
      auto targets = random_integers(N, 0, V - 1, rng);
      targets[3] = -100;  // ignored: allowed
      targets[static_cast<std::size_t>(N - 2)] = bad;
      Tensor bad_targets = tensor_from(*backend, {N}, targets);
      Tensor logits = tensor_from(*backend, {N, V}, test::random_values(N * V, rng));
      CHECK_THROWS_AS(
          run_and_download(
              *backend, [&] { backend->cross_entropy_rows(losses, logits, bad_targets, gradient_scale); }, losses),
          std::out_of_range);
    }
  }
  Tensor good_targets = tensor_from(*backend, {N}, random_integers(N, 0, V - 1, rng));
  Tensor logits = tensor_from(*backend, {N, V}, test::random_values(N * V, rng));
  CHECK_NOTHROW(run_and_download(
      *backend, [&] { backend->cross_entropy_rows(losses, logits, good_targets, 1.0f); }, losses));
}

TEST_CASE("parity: an out-of-range doc_start throws std::out_of_range") {
  auto backend = make_device_backend();
  std::mt19937 rng(92);
  constexpr std::int64_t B = 2, T = 130, H = 4, KV = 2, D = 64;
  const float scale = 0.125f;
  Tensor q = tensor_from(*backend, {B, T, H, D}, test::random_values(B * T * H * D, rng));
  Tensor k = tensor_from(*backend, {B, T, KV, D}, test::random_values(B * T * KV * D, rng));
  Tensor v = tensor_from(*backend, {B, T, KV, D}, test::random_values(B * T * KV * D, rng));
  Tensor dout = tensor_from(*backend, {B, T, H, D}, test::random_values(B * T * H * D, rng));
  Tensor out = backend->empty(DType::f32, {B, T, H, D});
  Tensor lse = backend->empty(DType::f32, {B, H, T});
  const std::vector<std::int32_t> valid(static_cast<std::size_t>(B * T), 0);
  Tensor good_starts = tensor_from(*backend, {B, T}, valid);
  backend->attention_forward(out, lse, q, k, v, good_starts, scale);
  // doc_start[t] must lie in [0, t]: one past t (at t = 0 and late in row 1), and negative.
  struct BadStart {
    std::int64_t index;  // into doc_start [B, T]
    std::int32_t value;
  };
  for (const BadStart& bad : {BadStart{0, 1}, BadStart{T + 120, 121}, BadStart{T + 5, -1}}) {
    CAPTURE(bad.index);
    CAPTURE(bad.value);
    std::vector<std::int32_t> starts = valid;
    starts[static_cast<std::size_t>(bad.index)] = bad.value;
    Tensor bad_starts = tensor_from(*backend, {B, T}, starts);
    Tensor bad_out = backend->empty(DType::f32, {B, T, H, D});
    Tensor bad_lse = backend->empty(DType::f32, {B, H, T});
    CHECK_THROWS_AS(
        run_and_download(
            *backend, [&] { backend->attention_forward(bad_out, bad_lse, q, k, v, bad_starts, scale); }, bad_out),
        std::out_of_range);
    Tensor dq = backend->zeros(DType::f32, {B, T, H, D});
    Tensor dk = backend->zeros(DType::f32, {B, T, KV, D});
    Tensor dv = backend->zeros(DType::f32, {B, T, KV, D});
    CHECK_THROWS_AS(run_and_download(
                        *backend,
                        [&] { backend->attention_backward(dq, dk, dv, dout, q, k, v, out, lse, bad_starts, scale); },
                        dq),
                    std::out_of_range);
  }
  Tensor dq = backend->zeros(DType::f32, {B, T, H, D});
  CHECK_NOTHROW(run_and_download(
      *backend,
      [&] { backend->attention_backward(dq, Tensor(), Tensor(), dout, q, k, v, out, lse, good_starts, scale); }, dq));
}

TEST_CASE("parity: a shape mismatch throws std::logic_error before any work") {
  auto backend = make_device_backend();
  Tensor a = backend->zeros(DType::f32, {10});
  Tensor b = backend->zeros(DType::f32, {11});
  CHECK_THROWS_AS(backend->add(a, a, b), std::logic_error);
  Tensor ids = backend->zeros(DType::i32, {4});
  Tensor table = backend->zeros(DType::f32, {5, 3});
  Tensor wrong_out = backend->empty(DType::f32, {4, 4});
  CHECK_THROWS_AS(backend->embedding_forward(wrong_out, ids, table), std::logic_error);
  CHECK_NOTHROW(run_and_download(*backend, [&] { backend->add(a, a, a); }, a));
}

}  // namespace
}  // namespace fthost::backend::parity
