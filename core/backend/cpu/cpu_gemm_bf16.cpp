#include "backend/cpu/cpu_gemm_bf16.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <stdexcept>
#include <string>

#include "backend/float16.hpp"

namespace fthost::backend::cpu {

struct Bf16Gemm::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // (m, n, k, alpha, beta, transposes) -> the primitive; a and b arrive as bf16 copies of the
  // operands as stored, op() expressed by their strides.
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, float, float, bool, bool>, dnnl::matmul> primitives;
  std::vector<std::uint16_t> a_bf16, b_bf16;
};

Bf16Gemm::Bf16Gemm() : state_(std::make_unique<State>()) {}
Bf16Gemm::~Bf16Gemm() = default;

namespace {

// source as stored ([rows, cols] with leading dimension `ld`) -> contiguous bf16 [rows, cols].
// A transposed operand is converted as stored and described to oneDNN by its strides: reading it
// transposed here would stride through memory a whole weight matrix per call.
void to_bf16(std::vector<std::uint16_t>& out, const float* source, std::int64_t ld, std::int64_t rows,
             std::int64_t cols) {
  out.resize(static_cast<std::size_t>(rows * cols));
  std::uint16_t* target = out.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = source + i * ld;
    std::uint16_t* destination = target + i * cols;
    for (std::int64_t j = 0; j < cols; ++j) destination[j] = float_to_bf16_bits(row[j]);
  }
}

}  // namespace

void Bf16Gemm::run(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                   const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                   std::int64_t ldc) {
  using dnnl::memory;
  State& s = *state_;
  // op(a) [m,k] is stored [m,k], or [k,m] when transposed; op(b) [k,n] likewise.
  to_bf16(s.a_bf16, a, lda, transpose_a ? k : m, transpose_a ? m : k);
  to_bf16(s.b_bf16, b, ldb, transpose_b ? n : k, transpose_b ? k : n);
  const memory::desc a_desc({m, k}, memory::data_type::bf16, transpose_a ? memory::dims{1, m} : memory::dims{k, 1});
  const memory::desc b_desc({k, n}, memory::data_type::bf16, transpose_b ? memory::dims{1, k} : memory::dims{n, 1});
  const memory::desc c_desc({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
  auto key = std::make_tuple(m, n, k, alpha, beta, transpose_a, transpose_b);
  auto found = s.primitives.find(key);
  if (found == s.primitives.end()) {
    dnnl::primitive_attr attr;
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (beta != 0.0f) {
      dnnl::post_ops post_ops;
      post_ops.append_sum(beta);
      attr.set_post_ops(post_ops);
    }
    try {
      dnnl::matmul::primitive_desc description(dnnl::matmul::desc(a_desc, b_desc, c_desc), attr, s.engine);
      found = s.primitives.emplace(key, dnnl::matmul(description)).first;
    } catch (const dnnl::error& failure) {
      throw std::runtime_error(std::string("bf16 matmul: oneDNN cannot build it (") + failure.what() + ")");
    }
  }
  memory a_memory(a_desc, s.engine, s.a_bf16.data());
  memory b_memory(b_desc, s.engine, s.b_bf16.data());
  memory c_memory(c_desc, s.engine, c);
  found->second.execute(s.stream, {{DNNL_ARG_SRC, a_memory}, {DNNL_ARG_WEIGHTS, b_memory}, {DNNL_ARG_DST, c_memory}});
  s.stream.wait();
}

}  // namespace fthost::backend::cpu
