// The CPU backend's int8 GEMM (see cpu_gemm_s8.hpp).
//
// oneDNN 2.6's int8 matmul is exact only in some configurations, measured on a Sapphire Rapids
// core with ONEDNN_MAX_CPU_ISA capping it (sums of 127 * 127 products, which no f32 holds exactly
// beyond 2^24):
// - s8 x s8 on AMX-INT8 (TDPBSSD multiplies s8 by s8): exact.
// - s8 x s8 on AVX512-VNNI: VPDPBUSD multiplies u8 by s8, so oneDNN adds 128 to a and subtracts
//   a compensation, 128 * sum_p b[j,p], and the sums come back rounded to f32: 1041 * 127 * 127
//   = 16790289 came back 16790288. A u8 a with oneDNN's source zero point 128 is rounded alike.
// - u8 x s8 on AVX512-VNNI, AVX-VNNI or AMX, with no zero point, scale or post-op: the int32 sums
//   are stored as they are: exact.
// - any int8 matmul without VNNI (AVX2, AVX-512 before Cascade Lake): VPMADDUBSW saturates its
//   16-bit pair sums, and 1041 * 127 * 127 came back 148729.
// Hence: s8 x s8 where oneDNN picks an AMX kernel; else, where the CPU has VNNI, u8 x s8 on
// a + 128 with the compensation subtracted here in int32; else the loop.

#include "backend/cpu/cpu_gemm_s8.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_backend_impl.hpp"
#include "backend/cpu/cpu_loops.hpp"
#include "backend/op_checks.hpp"

namespace fthost::backend::cpu {
namespace {

// sum_p x[p] * y[p] over int8 vectors, in int32 (exact: the caller keeps n * 128 * 128 < 2^31).
FTHOST_CPU_VECTOR_CLONES
std::int32_t dot_s8(const std::int8_t* x, const std::int8_t* y, std::int64_t n) {
  std::int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t p = 0; p < n; ++p) sum += static_cast<std::int32_t>(x[p]) * static_cast<std::int32_t>(y[p]);
  return sum;
}

}  // namespace

void gemm_s8_loop(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, const std::int8_t* b,
                  std::int32_t* c) {
  // Tiles of c, [rows of a] x [rows of b], sized so that a tile's rows of a and b (k bytes each)
  // stay in a core's L2 while the tile is computed; one thread per tile.
  const std::int64_t tile = std::clamp<std::int64_t>(std::int64_t{256 * 1024} / std::max<std::int64_t>(k, 1), 4, 64);
  const std::int64_t row_tiles = (m + tile - 1) / tile, column_tiles = (n + tile - 1) / tile;
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t row_tile = 0; row_tile < row_tiles; ++row_tile) {
    for (std::int64_t column_tile = 0; column_tile < column_tiles; ++column_tile) {
      const std::int64_t row_end = std::min(m, (row_tile + 1) * tile);
      const std::int64_t column_end = std::min(n, (column_tile + 1) * tile);
      for (std::int64_t i = row_tile * tile; i < row_end; ++i) {
        for (std::int64_t j = column_tile * tile; j < column_end; ++j) c[i * n + j] = dot_s8(a + i * k, b + j * k, k);
      }
    }
  }
}

struct S8Gemm::Primitive {
  std::optional<dnnl::matmul> matmul;  // empty: the loop runs
  bool shifted_a = false;              // the u8 x s8 kernel on a + 128, compensated here
  std::string kernel;                  // see S8Gemm::kernel
};

struct S8Gemm::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, Primitive> primitives;  // (m, n, k) ->
  std::vector<std::uint8_t> shifted_a;        // a + 128 [m,k]
  std::vector<std::int32_t> b_row_sums;       // sum_p b[j,p] [n]
};

S8Gemm::S8Gemm() : state_(std::make_unique<State>()) {}
S8Gemm::~S8Gemm() = default;

namespace {

using dnnl::memory;

// a [m,k] and c [m,n] row-major; b [n,k] row-major is op(b) = b^T [k,n] with strides {1, k}, which
// oneDNN calls format ba. a is s8, or u8 when shifted by 128.
memory::desc a_desc(std::int64_t m, std::int64_t k, bool shifted) {
  return {{m, k}, shifted ? memory::data_type::u8 : memory::data_type::s8, memory::format_tag::ab};
}
memory::desc b_desc(std::int64_t n, std::int64_t k) { return {{k, n}, memory::data_type::s8, memory::format_tag::ba}; }
memory::desc c_desc(std::int64_t m, std::int64_t n) { return {{m, n}, memory::data_type::s32, memory::format_tag::ab}; }

dnnl::matmul::primitive_desc describe(const dnnl::engine& engine, std::int64_t m, std::int64_t n, std::int64_t k,
                                      bool shifted) {
  return {dnnl::matmul::desc(a_desc(m, k, shifted), b_desc(n, k), c_desc(m, n)), engine};
}

// Whether oneDNN may use VNNI dot products (u8 x s8 summed into int32 without saturation): the
// CPU has them and ONEDNN_MAX_CPU_ISA does not rule them out. The ISA values are bit sets.
bool has_int8_dot_products() {
  const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  const auto includes = [isa](dnnl_cpu_isa_t feature) {
    return (isa & static_cast<unsigned>(feature)) == static_cast<unsigned>(feature);
  };
  return includes(dnnl_cpu_isa_avx512_core_vnni) || includes(dnnl_cpu_isa_avx2_vnni);
}

}  // namespace

S8Gemm::Primitive& S8Gemm::primitive(std::int64_t m, std::int64_t n, std::int64_t k) {
  State& s = *state_;
  auto [found, inserted] = s.primitives.try_emplace(std::make_tuple(m, n, k));
  Primitive& entry = found->second;
  if (!inserted) return entry;
  // Typically dnnl_unimplemented (no int8 matmul for this CPU) when oneDNN throws: the loop gives
  // the same numbers.
  try {
    const auto description = describe(s.engine, m, n, k, false);
    const std::string name = description.impl_info_str();
    if (name.find("amx") != std::string::npos) {
      entry.matmul.emplace(description);
      entry.kernel = "oneDNN " + name + " (s8 x s8)";
      return entry;
    }
  } catch (const dnnl::error&) {  // then u8 x s8 may still exist
  }
  if (!has_int8_dot_products()) {
    entry.kernel = "loop (no VNNI or AMX: oneDNN's int8 kernels saturate 16-bit sums here)";
    return entry;
  }
  try {
    const auto description = describe(s.engine, m, n, k, true);
    entry.matmul.emplace(description);
    entry.shifted_a = true;
    entry.kernel = std::string("oneDNN ") + description.impl_info_str() + " (u8 x s8 on a + 128)";
  } catch (const dnnl::error& failure) {
    entry.kernel = std::string("loop (oneDNN: ") + failure.what() + ")";
  }
  return entry;
}

std::string S8Gemm::kernel(std::int64_t m, std::int64_t n, std::int64_t k) {
  if (m == 0 || n == 0 || k == 0) return "loop (empty product)";
  return primitive(m, n, k).kernel;
}

void S8Gemm::run(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, const std::int8_t* b,
                 std::int32_t* c) {
  // Empty products (c = 0 when only k is 0) are the loop's: oneDNN rejects zero dimensions.
  const Primitive* entry = m == 0 || n == 0 || k == 0 ? nullptr : &primitive(m, n, k);
  if (entry == nullptr || !entry->matmul) {
    gemm_s8_loop(m, n, k, a, b, c);
    return;
  }
  State& s = *state_;
  // oneDNN's memory objects take non-const handles; it only reads the source and weights.
  void* a_handle = const_cast<std::int8_t*>(a);
  if (entry->shifted_a) {
    // a + 128 as u8 [m,k] (flipping the sign bit), and sum_p b[j,p] for the compensation below.
    s.shifted_a.resize(static_cast<std::size_t>(m * k));
    s.b_row_sums.resize(static_cast<std::size_t>(n));
    std::uint8_t* shifted = s.shifted_a.data();
    std::int32_t* row_sums = s.b_row_sums.data();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < m * k; ++i) {
      shifted[i] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(a[i]) ^ 0x80u);
    }
#pragma omp parallel for schedule(static)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (std::int64_t p = 0; p < k; ++p) sum += b[j * k + p];
      row_sums[j] = sum;
    }
    a_handle = shifted;
  }
  memory a_memory(a_desc(m, k, entry->shifted_a), s.engine, a_handle);
  memory b_memory(b_desc(n, k), s.engine, const_cast<std::int8_t*>(b));
  memory c_memory(c_desc(m, n), s.engine, c);
  entry->matmul->execute(s.stream, {{DNNL_ARG_SRC, a_memory}, {DNNL_ARG_WEIGHTS, b_memory}, {DNNL_ARG_DST, c_memory}});
  s.stream.wait();
  if (!entry->shifted_a) return;
  // c = (a + 128) @ b^T - 128 * sum_p b[j,p]. The kernel's sums of (a + 128) * b may pass 2^31
  // (255 * 128 * k); they wrap, as VNNI's and AMX's additions do, and unsigned arithmetic here
  // unwraps them into the exact result, which the op's bound on k keeps inside int32.
  const std::int32_t* row_sums = s.b_row_sums.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < m; ++i) {
    std::int32_t* row = c + i * n;
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) {
      row[j] = static_cast<std::int32_t>(static_cast<std::uint32_t>(row[j]) -
                                         (static_cast<std::uint32_t>(row_sums[j]) << 7));
    }
  }
}

void CpuBackend::gemm_s8(const Tensor& c, const Tensor& a, const Tensor& b) {
  // c [M,N] (i32) = a [M,K] (i8) @ b [N,K]^T (i8)
  const checks::GemmDims dims = checks::gemm_s8(device(), c, a, b);
  if (!s8_gemm_) s8_gemm_ = std::make_unique<S8Gemm>();
  s8_gemm_->run(dims.m, dims.n, dims.k, a.data<std::int8_t>(), b.data<std::int8_t>(), c.i32());
}

}  // namespace fthost::backend::cpu
