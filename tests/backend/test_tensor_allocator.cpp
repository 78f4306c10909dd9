// Host allocator statistics, tensor views and the shape errors of Tensor.

#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/allocator.hpp"
#include "backend/tensor.hpp"
#include "backend_test_support.hpp"

namespace fthost::backend {
namespace {

TEST_CASE("host allocator: current, peak, reserved and count after allocations and frees") {
  auto allocator = make_host_allocator();
  CHECK(allocator->stats().current_bytes == 0);

  void* first = allocator->allocate(100);  // rounded up to 128
  REQUIRE(first != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(first) % 64 == 0);
  MemoryStats stats = allocator->stats();
  CHECK(stats.current_bytes == 128);
  CHECK(stats.peak_bytes == 128);
  CHECK(stats.reserved_bytes == 128);
  CHECK(stats.allocation_count == 1);

  void* second = allocator->allocate(64);
  REQUIRE(second != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(second) % 64 == 0);
  CHECK(allocator->stats().current_bytes == 192);
  CHECK(allocator->stats().peak_bytes == 192);

  allocator->deallocate(first, 100);
  stats = allocator->stats();
  CHECK(stats.current_bytes == 64);
  CHECK(stats.peak_bytes == 192);
  CHECK(stats.reserved_bytes == 64);
  CHECK(stats.allocation_count == 1);

  allocator->reset_peak();
  CHECK(allocator->stats().peak_bytes == 64);

  void* empty = allocator->allocate(0);  // one line, a distinct address
  REQUIRE(empty != nullptr);
  CHECK(allocator->stats().current_bytes == 128);
  CHECK(allocator->stats().peak_bytes == 128);
  allocator->deallocate(empty, 0);
  allocator->deallocate(second, 64);
  stats = allocator->stats();
  CHECK(stats.current_bytes == 0);
  CHECK(stats.allocation_count == 0);
  CHECK(stats.peak_bytes == 128);
}

TEST_CASE("host allocator: counts stay exact when threads allocate and free at once") {
  auto allocator = make_host_allocator();
  std::vector<std::thread> threads;
  for (int thread = 0; thread < 4; ++thread) {
    threads.emplace_back([&allocator] {
      for (int i = 0; i < 2000; ++i) {
        void* pointer = allocator->allocate(256);
        allocator->deallocate(pointer, 256);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const MemoryStats stats = allocator->stats();
  CHECK(stats.current_bytes == 0);
  CHECK(stats.allocation_count == 0);
  CHECK(stats.peak_bytes >= 256);
  CHECK(stats.peak_bytes <= 4 * 256);
}

TEST_CASE("tensors return their bytes to the allocator when the last view goes") {
  auto backend = make_cpu_backend();
  Allocator& allocator = backend->allocator();
  {
    Tensor tensor = backend->empty(DType::f32, {3, 5});  // 60 bytes -> 64
    CHECK(tensor.defined());
    CHECK(tensor.numel() == 15);
    CHECK(tensor.nbytes() == 60);
    CHECK(tensor.rank() == 2);
    CHECK(allocator.stats().current_bytes == 64);
    Tensor view = tensor.reshape({15});
    tensor = Tensor();
    CHECK(allocator.stats().current_bytes == 64);  // the view keeps the storage alive
    CHECK(view.numel() == 15);
  }
  CHECK(allocator.stats().current_bytes == 0);
  CHECK(allocator.stats().peak_bytes == 64);
}

TEST_CASE("reshape and rows are views of the same storage") {
  auto backend = make_cpu_backend();
  std::vector<float> values(12);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  Tensor matrix = test::tensor_from(*backend, {4, 3}, values);

  Tensor flat = matrix.reshape({2, 6});
  CHECK(flat.shape() == Shape{2, 6});
  CHECK(flat.raw() == matrix.raw());
  flat.f32()[7] = 70.0f;
  CHECK(matrix.f32()[7] == 70.0f);

  Tensor middle = matrix.rows(1, 2);
  CHECK(middle.shape() == Shape{2, 3});
  CHECK(middle.raw() == matrix.raw() + 3 * sizeof(float));
  CHECK(middle.f32()[0] == 3.0f);
  middle.f32()[5] = -8.0f;  // row 2, column 2 of matrix
  CHECK(matrix.f32()[8] == -8.0f);

  Tensor last_row = middle.rows(1, 1).reshape({3});
  CHECK(last_row.f32()[1] == 70.0f);
  CHECK(matrix.rows(4, 0).numel() == 0);
}

TEST_CASE("tensor shape errors are logic errors") {
  auto backend = make_cpu_backend();
  Tensor matrix = backend->empty(DType::f32, {4, 3});
  CHECK_THROWS_AS(matrix.reshape({5, 3}), std::logic_error);
  CHECK_THROWS_AS(matrix.rows(3, 2), std::logic_error);
  CHECK_THROWS_AS(matrix.rows(-1, 1), std::logic_error);
  CHECK_THROWS_AS(matrix.i32(), std::logic_error);
  CHECK_THROWS_AS(backend->empty(DType::f32, {2, -1}), std::logic_error);
  CHECK_THROWS_AS(backend->empty(DType::i32, {2}).f32(), std::logic_error);
  CHECK_THROWS_AS(Tensor().rows(0, 0), std::logic_error);
  CHECK(shape_to_string({2, 24, 64}) == "[2, 24, 64]");
  CHECK(shape_elements({}) == 1);
  CHECK(to_string(Device{DeviceKind::cuda, 1}) == "cuda:1");
}

TEST_CASE("zeros gives zeroed f32 and i32 tensors") {
  auto backend = make_cpu_backend();
  Tensor f = backend->zeros(DType::f32, {5, 3});
  for (float value : f.f32_span()) CHECK(value == 0.0f);
  Tensor i = backend->zeros(DType::i32, {7});
  for (std::int64_t n = 0; n < 7; ++n) CHECK(i.i32()[n] == 0);
  CHECK_THROWS_AS(backend->fill(i, 1.0f), std::logic_error);
}

TEST_CASE("describe_cpu_backend names the GEMM library, its kernels and the thread count") {
  const CpuBackendInfo info = describe_cpu_backend();
  CHECK(info.gemm_library.starts_with("oneDNN "));
  CHECK(!info.gemm_isa.empty());
  CHECK(info.loop_threads >= 1);
  CHECK((info.loop_vectors == "avx512f" || info.loop_vectors == "avx2" || info.loop_vectors == "baseline"));
  if (!info.problem.empty()) MESSAGE(info.problem);
}

}  // namespace
}  // namespace fthost::backend
