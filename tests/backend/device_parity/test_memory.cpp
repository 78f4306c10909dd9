// Memory on the backend under test: allocator statistics, host round trips (also into views),
// fill and copy, empty tensors; and the harness's own comparison, which every other test trusts.

#include <cstring>
#include <limits>
#include <random>

#include "parity_support.hpp"

namespace fthost::backend::parity {
namespace {

TEST_CASE("parity harness: the comparison fails what it should") {
  const float one_ulp_above = std::nextafter(1.0f, 2.0f);
  CHECK(compare({1.0f}, {1.0f}, tolerance::kExact).failures == 0);
  CHECK(compare({one_ulp_above}, {1.0f}, tolerance::kExact).failures == 1);
  CHECK(compare({-0.0f}, {0.0f}, tolerance::kExact).failures == 1);
  CHECK(compare({std::nanf("1")}, {std::nanf("2")}, tolerance::kExact).failures == 0);
  CHECK(compare({one_ulp_above}, {1.0f}, tolerance::kGemm).failures == 0);
  CHECK(compare({1.001f}, {1.0f}, tolerance::kGemm).failures == 1);
  CHECK(compare({std::nanf("")}, {1.0f}, tolerance::kGemm).failures == 1);
  CHECK(compare({1.0f}, {std::numeric_limits<float>::infinity()}, tolerance::kGemm).failures == 1);
  // The floor: an error of 1e-6 at an element near 0 passes only when the tensor's rms is large.
  CHECK(compare({1e-6f, 1.0f}, {0.0f, 1.0f}, tolerance::kGemm).failures == 0);
  CHECK(compare({1e-6f, 1.0f}, {0.0f, 1.0f}, tolerance::kSwigluForward).failures == 1);
}

TEST_CASE("parity: the device allocator's statistics follow allocations") {
  Allocator& allocator = device_backend().allocator();
  const MemoryStats before = allocator.stats();
  CHECK(before.peak_bytes >= before.current_bytes);
  CHECK(before.reserved_bytes >= before.current_bytes);
  std::uint64_t size = 0;
  {
    Tensor tensor = device_backend().empty(DType::f32, {1000, 1003});
    size = tensor.nbytes();
    const MemoryStats during = allocator.stats();
    CHECK(during.current_bytes >= before.current_bytes + size);
    CHECK(during.allocation_count == before.allocation_count + 1);
    CHECK(during.peak_bytes >= during.current_bytes);
    CHECK(during.reserved_bytes >= during.current_bytes);
    allocator.reset_peak();
    CHECK(allocator.stats().peak_bytes == during.current_bytes);
  }
  const MemoryStats after = allocator.stats();
  CHECK(after.current_bytes == before.current_bytes);
  CHECK(after.allocation_count == before.allocation_count);
  CHECK(after.peak_bytes >= before.current_bytes + size);  // the freed tensor's bytes were the peak
  CHECK(after.reserved_bytes >= after.current_bytes);

  // Again, where a caching allocator reuses the block it kept: the same accounting.
  {
    Tensor again = device_backend().empty(DType::f32, {1000, 1003});
    CHECK(allocator.stats().current_bytes >= before.current_bytes + size);
  }
  CHECK(allocator.stats().current_bytes == before.current_bytes);
}

TEST_CASE("parity: upload and download round trips are bit-exact") {
  Backend& device = device_backend();
  std::mt19937 rng(1);
  for (std::int64_t count : {std::int64_t{1}, std::int64_t{4097}, std::int64_t{1000003}}) {
    CAPTURE(count);
    // Every f32 bit pattern is data here: NaN payloads, infinities, subnormals, -0.
    std::vector<std::uint32_t> bits = random_integers<std::uint32_t>(count, 0, 0xFFFFFFFFLL, rng);
    std::vector<float> floats(bits.size());
    std::memcpy(floats.data(), bits.data(), bits.size() * sizeof(float));
    Tensor f32 = device.empty(DType::f32, {count});
    device.upload(f32, floats.data());
    const auto floats_back = download_as<std::uint32_t>(device, f32);
    CHECK(floats_back == bits);

    const auto ints = random_integers<std::int32_t>(count, std::numeric_limits<std::int32_t>::min(),
                                                    std::numeric_limits<std::int32_t>::max(), rng);
    Tensor i32 = device.empty(DType::i32, {count});
    device.upload(i32, ints.data());
    CHECK(download_as<std::int32_t>(device, i32) == ints);

    const auto bytes = random_integers<std::int8_t>(count, -128, 127, rng);
    Tensor i8 = device.empty(DType::i8, {count});
    device.upload(i8, bytes.data());
    CHECK(download_as<std::int8_t>(device, i8) == bytes);
  }
}

TEST_CASE("parity: views (rows, reshape) address their part of the storage") {
  std::mt19937 rng(2);
  const Shape shape{10, 33};
  const auto base = test::random_values(330, rng);
  const auto part = test::random_values(4 * 33, rng);
  Twin whole = twin(shape, base);
  Twin other = random_twin({4, 33}, rng);
  on_both([&](Backend& backend, Side side) {
    const Tensor rows = whole[side].rows(3, 4);
    backend.upload(rows, part.data());
    backend.add_inplace(whole[side].rows(7, 3).reshape({99}), other[side].rows(1, 3));
    backend.scale_inplace(whole[side].rows(0, 1), -2.0f);
  });
  check_parity(whole, tolerance::kExact, "views");
  std::vector<float> expected = base;
  std::copy(part.begin(), part.end(), expected.begin() + 3 * 33);
  const auto other_values = values(other, Side::reference);
  for (std::size_t i = 0; i < 99; ++i) expected[7 * 33 + i] += other_values[33 + i];
  for (std::size_t i = 0; i < 33; ++i) expected[i] *= -2.0f;
  CHECK(test::same_bits(values(whole, Side::device), expected));

  const auto middle = download_as<float>(device_backend(), whole.device.rows(3, 4));
  CHECK(test::same_bits(middle, part));
}

TEST_CASE("parity: fill and copy") {
  std::mt19937 rng(3);
  for (const Shape& shape : {Shape{1}, Shape{31}, Shape{300, 1000}, Shape{3, 7, 4099}}) {
    CAPTURE(shape_to_string(shape));
    for (float value : {0.0f, -0.0f, 3.25f, -std::numeric_limits<float>::infinity()}) {
      CAPTURE(value);
      Twin tensor = random_twin(shape, rng);
      on_both([&](Backend& backend, Side side) { backend.fill(tensor[side], value); });
      check_parity(tensor, tolerance::kExact, "fill");
      CHECK(std::signbit(values(tensor, Side::device).back()) == std::signbit(value));
    }
    Twin source = random_twin(shape, rng);
    Twin destination = random_twin(shape, rng);
    on_both([&](Backend& backend, Side side) { backend.copy(destination[side], source[side]); });
    check_parity(destination, tolerance::kExact, "copy");

    const std::int64_t count = shape_elements(shape);
    Twin ids = twin(shape, random_integers(count, -1000, 1000, rng));
    Twin ids_copy = twin(shape, random_integers(count, -1000, 1000, rng));
    Twin zeroed = twin(shape, random_integers(count, -1000, 1000, rng));
    on_both([&](Backend& backend, Side side) {
      backend.copy(ids_copy[side], ids[side]);
      backend.fill(zeroed[side], 0.0f);
    });
    check_equal_i32(ids_copy, "copy i32");
    check_equal_i32(zeroed, "fill i32 with 0");
  }
}

TEST_CASE("parity: empty tensors") {
  std::mt19937 rng(4);
  Twin empty = twin({0}, std::vector<float>{});
  Twin rows = twin({0, 16}, std::vector<float>{});
  Twin normed = twin({0, 16}, std::vector<float>{});
  Twin weight = random_twin({16}, rng);
  on_both([&](Backend& backend, Side side) {
    std::vector<float> host;
    backend.upload(empty[side], host.data());
    backend.download(host.data(), empty[side]);
    backend.fill(empty[side], 1.0f);
    backend.copy(empty[side], empty[side]);
    backend.add(empty[side], empty[side], empty[side]);
    backend.scale_inplace(empty[side], 2.0f);
    backend.dropout(empty[side], empty[side], 0.5f, 7);
    CHECK(backend.sum_of_squares(empty[side]) == 0.0);
    Tensor rstd = backend.empty(DType::f32, {0});
    backend.rmsnorm_forward(normed[side], rstd, rows[side], weight[side], 1e-5f);
  });
  // k = 0: c = beta * c, which BLAS libraries treat as a special case.
  Twin a = twin({5, 0}, std::vector<float>{});
  Twin b = twin({0, 3}, std::vector<float>{});
  Twin c = random_twin({5, 3}, rng);
  on_both([&](Backend& backend, Side side) { backend.gemm(false, false, 1.0f, a[side], b[side], 0.5f, c[side]); });
  check_parity(c, tolerance::kExact, "gemm with k = 0");
}

}  // namespace
}  // namespace fthost::backend::parity
