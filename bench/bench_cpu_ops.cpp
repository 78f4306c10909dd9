// fthost-bench-ops: how fast the CPU backend runs one training step's ops at the shapes of a
// ~20M-parameter Llama (hidden 512, intermediate 1376, 8 heads of 64, sequence 256, micro-batch 4,
// so N = 1024 rows). Prints GEMM GFLOP/s next to the machine's sgemm peak, and milliseconds per
// call of attention and the other ops.
//
//   fthost-bench-ops [seconds_per_measurement]      (default 0.5)
//
// The thread count is OpenMP's (OMP_NUM_THREADS), for the loops and oneDNN's GEMM alike.

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"

namespace {

using fthost::backend::Backend;
using fthost::backend::DType;
using fthost::backend::RotaryDirection;
using fthost::backend::Shape;
using fthost::backend::Tensor;

constexpr std::int64_t kBatch = 4, kSequence = 256, kRows = kBatch * kSequence;  // N = 1024
constexpr std::int64_t kHidden = 512, kIntermediate = 1376, kHeads = 8, kHeadSize = 64, kVocabulary = 32000;

double seconds_per_measurement = 0.5;

// Median milliseconds per call, after one warm-up call, over at least 3 calls and
// seconds_per_measurement seconds.
double milliseconds_per_call(const std::function<void()>& call) {
  call();
  std::vector<double> samples;
  const auto start = std::chrono::steady_clock::now();
  while (samples.size() < 3 ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds_per_measurement) {
    const auto before = std::chrono::steady_clock::now();
    call();
    samples.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count());
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

Tensor random_tensor(Backend& backend, Shape shape, std::mt19937& rng, float scale = 1.0f) {
  Tensor tensor = backend.empty(DType::f32, std::move(shape));
  std::normal_distribution<float> normal(0.0f, scale);
  for (float& value : tensor.f32_span()) value = normal(rng);
  return tensor;
}

// The nominal clock from /proc/cpuinfo, 0 when unknown.
double nominal_ghz() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str()) / 1000.0;
  }
  return 0.0;
}

double sgemm_peak_gflops = 0.0;  // set by bench_gemm: the best square sgemm

// One line: milliseconds per call, and GFLOP/s when `gflop` is known (with the share of the
// sgemm peak for GEMMs).
void print_row(const char* name, double milliseconds, double gflop, bool versus_peak = false) {
  const double rate = gflop / milliseconds * 1e3;
  if (versus_peak && sgemm_peak_gflops > 0.0) {
    std::printf("  %-44s %9.3f ms  %8.1f GFLOP/s  %4.0f%% of peak\n", name, milliseconds, rate,
                100.0 * rate / sgemm_peak_gflops);
  } else if (gflop > 0.0) {
    std::printf("  %-44s %9.3f ms  %8.1f GFLOP/s\n", name, milliseconds, rate);
  } else {
    std::printf("  %-44s %9.3f ms\n", name, milliseconds);
  }
}

void bench_gemm(Backend& backend, std::mt19937& rng) {
  // The machine's practical sgemm peak: the best of oneDNN on square products.
  std::printf("GEMM (oneDNN sgemm), N = %lld rows\n", static_cast<long long>(kRows));
  double peak = 0.0;
  for (std::int64_t square : {512, 1024, 2048}) {
    Tensor a = random_tensor(backend, {square, square}, rng), b = random_tensor(backend, {square, square}, rng);
    Tensor c = backend.empty(DType::f32, {square, square});
    const double gflop = 2.0 * std::pow(static_cast<double>(square), 3) * 1e-9;
    const double ms = milliseconds_per_call([&] { backend.gemm(false, false, 1.0f, a, b, 0.0f, c); });
    const std::string name = "square sgemm " + std::to_string(square) + "^3";
    print_row(name.c_str(), ms, gflop);
    peak = std::max(peak, gflop / ms * 1e3);
  }
  sgemm_peak_gflops = peak;
  std::printf("  sgemm peak (best square): %.1f GFLOP/s\n", peak);
  const double ghz = nominal_ghz();
  if (ghz > 0.0) {
    // 2 AVX-512 FMA units x 16 lanes x 2 flops per cycle per core, at the nominal clock (turbo
    // clocks run above it).
    std::printf("  nominal f32 peak: %d threads x %.2f GHz x 64 flop/cycle = %.1f GFLOP/s\n", omp_get_max_threads(),
                ghz, omp_get_max_threads() * ghz * 64.0);
  }

  struct Linear {
    const char* name;
    std::int64_t in, out;
  };
  const Linear layers[] = {{"q/k/v/o proj   512 -> 512", kHidden, kHidden},
                           {"gate/up proj   512 -> 1376", kHidden, kIntermediate},
                           {"down proj     1376 -> 512", kIntermediate, kHidden}};
  for (const Linear& layer : layers) {
    Tensor inp = random_tensor(backend, {kRows, layer.in}, rng);
    Tensor weight = random_tensor(backend, {layer.out, layer.in}, rng, 0.05f);
    Tensor out = backend.empty(DType::f32, {kRows, layer.out});
    Tensor dout = random_tensor(backend, {kRows, layer.out}, rng);
    Tensor dinp = backend.zeros(DType::f32, {kRows, layer.in});
    Tensor dweight = backend.zeros(DType::f32, {layer.out, layer.in});
    const double gflop = 2.0 * static_cast<double>(kRows * layer.in * layer.out) * 1e-9;
    std::printf("  %s\n", layer.name);
    print_row("  forward   out = inp @ W^T", milliseconds_per_call([&] {
                backend.linear_forward(out, inp, weight, Tensor());
              }),
              gflop, true);
    print_row("  backward  dinp += dout @ W", milliseconds_per_call([&] {
                backend.linear_backward(dinp, Tensor(), Tensor(), dout, inp, weight);
              }),
              gflop, true);
    print_row("  backward  dW += dout^T @ inp", milliseconds_per_call([&] {
                backend.linear_backward(Tensor(), dweight, Tensor(), dout, inp, weight);
              }),
              gflop, true);
  }
}

void bench_attention(Backend& backend, std::mt19937& rng, std::int64_t kv_heads) {
  Tensor q = random_tensor(backend, {kBatch, kSequence, kHeads, kHeadSize}, rng);
  Tensor k = random_tensor(backend, {kBatch, kSequence, kv_heads, kHeadSize}, rng);
  Tensor v = random_tensor(backend, {kBatch, kSequence, kv_heads, kHeadSize}, rng);
  Tensor out = backend.empty(DType::f32, q.shape());
  Tensor lse = backend.empty(DType::f32, {kBatch, kHeads, kSequence});
  Tensor doc_start = backend.zeros(DType::i32, {kBatch, kSequence});  // one document per row: causal
  Tensor dout = random_tensor(backend, q.shape(), rng);
  Tensor dq = backend.zeros(DType::f32, q.shape());
  Tensor dk = backend.zeros(DType::f32, k.shape());
  Tensor dv = backend.zeros(DType::f32, v.shape());
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadSize));
  // Causal: T(T+1)/2 query-key pairs per head, 2 flops per multiply-add, q.k and p.v.
  const double pairs = static_cast<double>(kBatch * kHeads) * kSequence * (kSequence + 1) / 2.0;
  const double forward_gflop = pairs * 2.0 * 2.0 * kHeadSize * 1e-9;
  std::printf("attention B=%lld T=%lld H=%lld KV=%lld D=%lld (causal)\n", static_cast<long long>(kBatch),
              static_cast<long long>(kSequence), static_cast<long long>(kHeads), static_cast<long long>(kv_heads),
              static_cast<long long>(kHeadSize));
  print_row("forward", milliseconds_per_call([&] { backend.attention_forward(out, lse, q, k, v, doc_start, scale); }),
            forward_gflop);
  // The backward pass's useful work: q.k recomputed, dout.v, and the dq, dk, dv products.
  print_row("backward (dq, dk, dv)", milliseconds_per_call([&] {
              backend.attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc_start, scale);
            }),
            pairs * 2.0 * 5.0 * kHeadSize * 1e-9);
}

void bench_other_ops(Backend& backend, std::mt19937& rng) {
  std::printf("other ops\n");
  Tensor x = random_tensor(backend, {kRows, kHidden}, rng);
  Tensor weight = random_tensor(backend, {kHidden}, rng);
  Tensor out = backend.empty(DType::f32, x.shape());
  Tensor rstd = backend.empty(DType::f32, {kRows});
  Tensor dx = backend.zeros(DType::f32, x.shape());
  Tensor dweight = backend.zeros(DType::f32, {kHidden});
  print_row("rmsnorm forward   [1024, 512]",
            milliseconds_per_call([&] { backend.rmsnorm_forward(out, rstd, x, weight, 1e-5f); }), 0.0);
  print_row("rmsnorm backward  [1024, 512]",
            milliseconds_per_call([&] { backend.rmsnorm_backward(dx, dweight, out, x, weight, rstd); }), 0.0);

  Tensor gate = random_tensor(backend, {kRows, kIntermediate}, rng);
  Tensor up = random_tensor(backend, {kRows, kIntermediate}, rng);
  Tensor hidden = backend.empty(DType::f32, gate.shape());
  Tensor dgate = backend.zeros(DType::f32, gate.shape());
  Tensor dup = backend.zeros(DType::f32, gate.shape());
  print_row("swiglu forward    [1024, 1376]", milliseconds_per_call([&] { backend.swiglu_forward(hidden, gate, up); }),
            0.0);
  print_row("swiglu backward   [1024, 1376]",
            milliseconds_per_call([&] { backend.swiglu_backward(dgate, dup, hidden, gate, up); }), 0.0);

  Tensor q = random_tensor(backend, {kRows, kHeads, kHeadSize}, rng);
  Tensor positions = backend.empty(DType::i32, {kRows});
  for (std::int64_t n = 0; n < kRows; ++n) positions.i32()[n] = static_cast<std::int32_t>(n % kSequence);
  Tensor inv_freq = backend.empty(DType::f32, {kHeadSize / 2});
  for (std::int64_t i = 0; i < kHeadSize / 2; ++i) {
    inv_freq.f32()[i] = static_cast<float>(std::pow(10000.0, -2.0 * static_cast<double>(i) / kHeadSize));
  }
  print_row("rotary            [1024, 8, 64]", milliseconds_per_call([&] {
              backend.rotary_inplace(q, positions, inv_freq, RotaryDirection::forward);
            }),
            0.0);

  Tensor logits = random_tensor(backend, {kRows, kVocabulary}, rng);
  Tensor targets = backend.empty(DType::i32, {kRows});
  for (std::int64_t n = 0; n < kRows; ++n) targets.i32()[n] = static_cast<std::int32_t>((n * 7919) % kVocabulary);
  Tensor losses = backend.empty(DType::f32, {kRows});
  // The gradient overwrites the logits, which only changes the values the next call sees.
  print_row("cross_entropy     [1024, 32000] + grad", milliseconds_per_call([&] {
              backend.cross_entropy_rows(losses, logits, targets, 1.0f / kRows);
            }),
            0.0);

  const std::int64_t parameters = 20'000'000;
  Tensor param = random_tensor(backend, {parameters}, rng);
  Tensor grad = random_tensor(backend, {parameters}, rng, 0.01f);
  Tensor m = backend.zeros(DType::f32, {parameters});
  Tensor v = backend.zeros(DType::f32, {parameters});
  std::int64_t step = 0;
  print_row("adamw_step        20M parameters", milliseconds_per_call([&] {
              backend.adamw_step(param, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.1, ++step);
            }),
            0.0);
  print_row("sum_of_squares    20M parameters", milliseconds_per_call([&] { (void)backend.sum_of_squares(grad); }),
            0.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) seconds_per_measurement = std::atof(argv[1]);
  auto backend = fthost::backend::make_cpu_backend();
  std::mt19937 rng(1234);
  const fthost::backend::CpuBackendInfo info = fthost::backend::describe_cpu_backend();
  std::printf("fthost CPU backend: loops %s, GEMM %s (%s kernels), %d OpenMP threads\n", info.loop_vectors.c_str(),
              info.gemm_library.c_str(), info.gemm_isa.c_str(), info.loop_threads);
  if (!info.problem.empty()) std::printf("WARNING: %s\n", info.problem.c_str());
  std::printf("\n");
  bench_gemm(*backend, rng);
  std::printf("\n");
  bench_attention(*backend, rng, kHeads);
  bench_attention(*backend, rng, 2);
  std::printf("\n");
  bench_other_ops(*backend, rng);
  return 0;
}
