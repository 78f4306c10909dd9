// fthost-bench-train: training throughput of a ~20M-parameter Llama on the CPU backend, full
// fine-tuning or (--lora R) LoRA of rank R on every linear layer except lm_head.
// Prints tokens/s, achieved GFLOP/s (6 * parameters * tokens per second for full fine-tuning;
// 4 * parameters * tokens for LoRA, whose frozen base needs no weight gradients), the machine's
// measured sgemm peak, their ratio (CPU MFU) and peak memory; then runs
// tools/bench_pytorch_train.py with the same model, batch, thread count (and PEFT LoRA) when
// PyTorch is importable, and prints its figures. Not a test: nothing here asserts a speed.
//
// --bf16: bf16 compute (fthost's 16-bit rounding; PyTorch: torch.autocast("cpu", torch.bfloat16)).
//
// --quant nf4|nf4-dq|int8 (with --lora): the frozen base stored by quant_nf4 (nf4-dq: double quantization)
// or quant_int8, as QLoRA / LoRA on LLM.int8(); prints the base weights' memory beside the step time.
//
// --backend cpu|cuda: the device (default cpu). --model small|1b: the ~20M Llama, or a ~1.1B one
// (TinyLlama's shape: hidden 2048, 22 layers, 32 heads, 4 key/value heads, vocabulary 32000) for
// GPUs. On CUDA, MFU is against --peak-tflops (default 989: an H100 or H200 SXM's dense bf16),
// memory is the CUDA allocator's peak, and PyTorch runs on the same GPU (bf16 autocast with --bf16).
// usage: fthost-bench-train [--steps N] [--batch B] [--seq T] [--lora R] [--bf16] [--quant Q] [--python PATH]
//                           [--backend cpu|cuda] [--model small|1b] [--peak-tflops F]

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <omp.h>

#include "backend/select_backend.hpp"
#include "data/token_dataset.hpp"
#include "lora_strategy.hpp"
#include "model/model_weights.hpp"
#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "train/trainer.hpp"
#include "train/training_run.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* small_config = R"({
  "model_type": "llama", "vocab_size": 8192, "hidden_size": 512, "intermediate_size": 1376,
  "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 8,
  "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "tie_word_embeddings": true})";

constexpr const char* one_billion_config = R"({
  "model_type": "llama", "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
  "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
  "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "tie_word_embeddings": false})";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The best GFLOP/s of a square sgemm through the backend: the roof the model's GEMMs can reach.
double measure_sgemm_peak(fthost::backend::Backend& backend) {
  const std::int64_t n = backend.device().kind == fthost::backend::DeviceKind::cpu ? 1024 : 8192;
  std::vector<float> sink(1);
  auto a = backend.empty(fthost::backend::DType::f32, {n, n});
  auto b = backend.empty(fthost::backend::DType::f32, {n, n});
  auto c = backend.empty(fthost::backend::DType::f32, {n, n});
  backend.fill(a, 0.5f);
  backend.fill(b, 0.25f);
  double best = 0.0;
  for (int round = 0; round < 8; ++round) {
    auto start = Clock::now();
    backend.gemm(false, true, 1.0f, a, b, 0.0f, c);
    backend.download(sink.data(), c.reshape({n * n}).rows(0, 1));  // waits for the GPU
    double flops = 2.0 * static_cast<double>(n * n * n);
    best = std::max(best, flops / seconds_since(start) / 1e9);
  }
  return best;
}

double max_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 5;
  std::int64_t batch = 4;
  std::int64_t seq = 256;
  std::int64_t lora_rank = 0;
  std::string quant;  // "", nf4, nf4-dq or int8
  std::string python = std::getenv("FTHOST_BENCH_PYTHON") != nullptr ? std::getenv("FTHOST_BENCH_PYTHON") : "python3";
  bool bf16 = false;
  std::string backend_name = "cpu";
  std::string model_name = "small";
  double peak_tflops = 989.0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--bf16") bf16 = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--bf16") {
      --i;  // a flag without a value
      continue;
    }
    if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    else if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    else if (flag == "--seq") seq = std::atoll(argv[i + 1]);
    else if (flag == "--python") python = argv[i + 1];
    else if (flag == "--lora") lora_rank = std::atoll(argv[i + 1]);
    else if (flag == "--quant") quant = argv[i + 1];
    else if (flag == "--backend") backend_name = argv[i + 1];
    else if (flag == "--model") model_name = argv[i + 1];
    else if (flag == "--peak-tflops") peak_tflops = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "fthost-bench-train: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (model_name != "small" && model_name != "1b") {
    std::fprintf(stderr, "--model small|1b\n");
    return 2;
  }
  if (!quant.empty() && (lora_rank <= 0 || (quant != "nf4" && quant != "nf4-dq" && quant != "int8"))) {
    std::fprintf(stderr, "--quant nf4|nf4-dq|int8 quantizes the frozen base: it needs --lora R\n");
    return 2;
  }
  const int threads = omp_get_max_threads();

  const fthost::backend::BackendResolution resolution = fthost::backend::resolve_backend(backend_name);
  if (!resolution.problem.empty()) {
    std::fprintf(stderr, "--backend %s: %s\n", backend_name.c_str(), resolution.problem.c_str());
    return 2;
  }
  fthost::backend::Backend* backend = &fthost::backend::shared_backend(resolution);
  const bool on_gpu = resolution.kind == fthost::sdk::BackendKind::cuda;
  auto config = fthost::model::parse_model_config(model_name == "1b" ? one_billion_config : small_config, "bench config");
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  // A quantized base is loaded as runs load one: from a folder, quantized one site at a time, so
  // the dense model is never resident beside it.
  std::unique_ptr<fthost::sdk::QuantizationStrategy> quantization;
  std::unique_ptr<fthost::model::Transformer> owned;
  std::int64_t parameters = 0;
  {
    auto dense = std::make_unique<fthost::model::Transformer>(*config, *backend);
    fthost::model::initialize_transformer(*dense, 1);
    parameters = dense->layout().parameter_count();
    if (quant.empty()) {
      owned = std::move(dense);
    } else {
      const std::filesystem::path folder = std::filesystem::temp_directory_path() / "fthost-bench-train-model";
      if (auto saved = fthost::model::save_transformer(*dense, folder); !saved) {
        std::fprintf(stderr, "%s\n", saved.error().message.c_str());
        return 1;
      }
      dense.reset();
      if (quant == "int8") {
        const fthost::sdk::OptionSchema schema = fthost::plugins::quant_int8_option_schema();
        fthost::sdk::Options options;
        for (const auto& spec : schema.specs()) options.set(spec.name, *spec.default_value);
        quantization = std::make_unique<fthost::plugins::Int8QuantizationStrategy>(options);
      } else {
        const fthost::sdk::OptionSchema schema = fthost::plugins::quant_nf4_option_schema();
        fthost::sdk::Options options;
        for (const auto& spec : schema.specs()) options.set(spec.name, *spec.default_value);
        options.set("double_quant", quant == "nf4-dq");
        if (bf16) options.set("compute_dtype", std::string("bf16"));
        quantization = std::make_unique<fthost::plugins::Nf4QuantizationStrategy>(options);
      }
      auto loaded = fthost::model::load_transformer(folder, *backend, nullptr, {quantization.get(), quant});
      std::filesystem::remove_all(folder);
      if (!loaded) {
        std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
        return 1;
      }
      owned = std::move(*loaded);
    }
  }
  fthost::model::Transformer& model = *owned;
  const double weight_mib =
      static_cast<double>(model.layout().parameter_count() * 4 + (model.quantized() ? model.quantized()->stored_bytes() : 0)) /
      1048576.0;
  if (bf16) model.set_compute_dtype(fthost::backend::DType::bf16);
  std::unique_ptr<fthost::plugins::LoraStrategy> lora;
  if (lora_rank > 0) {
    const fthost::sdk::OptionSchema schema = fthost::plugins::lora_option_schema();
    fthost::sdk::Options options;
    for (const auto& spec : schema.specs()) options.set(spec.name, *spec.default_value);
    options.set("r", lora_rank);
    options.set("lora_alpha", static_cast<double>(2 * lora_rank));
    options.set("target_modules", std::vector<std::string>{"all-linear"});
    lora = std::make_unique<fthost::plugins::LoraStrategy>(options);
    if (auto attached = fthost::train::attach_adapter(model, *lora, "lora", "bench"); !attached) {
      std::fprintf(stderr, "%s\n", attached.error().message.c_str());
      return 1;
    }
    model.adapters()->initialize(1, model.parameters());
  }

  const auto vocabulary = static_cast<std::uint64_t>(config->vocab_size);
  std::vector<std::vector<std::int32_t>> documents;
  std::uint64_t state = 12345;
  for (std::int64_t row = 0; row < batch * 4; ++row) {
    std::vector<std::int32_t> document;
    for (std::int64_t t = 0; t < seq; ++t) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      document.push_back(static_cast<std::int32_t>((state >> 33) % vocabulary));
    }
    documents.push_back(std::move(document));
  }
  const auto dataset = fthost::data::TokenDataset::from_documents(documents);
  fthost::data::BatchStream stream(fthost::data::pack_rows(dataset, seq, false), seq, batch, 1, false);
  fthost::train::TrainingSettings settings;
  settings.schedule.peak = 1e-4;
  settings.schedule.total_steps = steps + 1;
  fthost::train::Trainer trainer(model, settings);
  if (!trainer.step(stream)) return 1;  // warm-up: first-touch page faults, oneDNN JIT kernels

  auto start = Clock::now();
  std::int64_t tokens = 0;
  for (int step = 0; step < steps; ++step) {
    auto record = trainer.step(stream);
    if (!record) {
      std::fprintf(stderr, "%s\n", record.error().message.c_str());
      return 1;
    }
    tokens += record->tokens;
  }
  const double elapsed = seconds_since(start);
  const double tokens_per_second = static_cast<double>(tokens) / elapsed;
  const double flops_per_token_per_parameter = lora ? 4.0 : 6.0;
  const double achieved = flops_per_token_per_parameter * static_cast<double>(parameters) * tokens_per_second / 1e9;
  const auto memory = backend->allocator().stats();
  const double peak = on_gpu ? peak_tflops * 1000.0 : measure_sgemm_peak(*backend);
  const double sgemm = on_gpu ? measure_sgemm_peak(*backend) : peak;

  std::string method = lora ? "LoRA r=" + std::to_string(lora_rank) + " all-linear" : "full fine-tuning";
  if (!quant.empty()) method += " on a " + quant + " base";
  std::printf("fthost-bench-train: Llama %.1fM parameters, batch %lld x seq %lld, %s, %s %s\n",
              static_cast<double>(parameters) / 1e6, static_cast<long long>(batch), static_cast<long long>(seq),
              on_gpu ? resolution.description.c_str() : (std::to_string(threads) + " threads").c_str(),
              bf16 ? "bf16" : "f32", method.c_str());
  if (on_gpu) {
    std::printf("  fthost   %8.0f tokens/s  %9.1f GFLOP/s  MFU %5.1f%% of %.0f TFLOP/s  (sgemm 8192^3: %.1f TFLOP/s)  "
                "peak allocated %8.1f MiB  reserved %8.1f MiB  max RSS %7.1f MiB\n",
                tokens_per_second, achieved, 100.0 * achieved / peak, peak_tflops, sgemm / 1000.0,
                static_cast<double>(memory.peak_bytes) / 1048576.0, static_cast<double>(memory.reserved_bytes) / 1048576.0,
                max_rss_mib());
  } else {
    std::printf("  fthost   %8.0f tokens/s  %7.1f GFLOP/s  sgemm peak %7.1f GFLOP/s  MFU %5.1f%%  "
                "peak tensors %7.1f MiB  max RSS %7.1f MiB\n",
                tokens_per_second, achieved, peak, 100.0 * achieved / peak,
                static_cast<double>(memory.peak_bytes) / 1048576.0, max_rss_mib());
  }
  std::printf("           step %.1f ms, base weights %.1f MiB (f32 dense: %.1f MiB)\n",
              1000.0 * elapsed / static_cast<double>(steps), weight_mib, static_cast<double>(parameters) * 4.0 / 1048576.0);
  std::fflush(stdout);
  if (!quant.empty()) {
    // bitsandbytes' CPU training path is not the one users run (they train QLoRA on GPUs).
    std::printf("  pytorch  (not run for --quant: no PyTorch + bitsandbytes CPU equivalent is measured here)\n");
    return 0;
  }

  std::string script = std::string(FTHOST_SOURCE_DIR) + "/tools/bench_pytorch_train.py";
  std::string command = python + " " + script + " --steps " + std::to_string(steps) + " --batch " +
                        std::to_string(batch) + " --seq " + std::to_string(seq) + " --threads " +
                        std::to_string(threads) + " --lora " + std::to_string(lora_rank) + (bf16 ? " --bf16" : "") +
                        " --model " + model_name + " --device " + (on_gpu ? "cuda" : "cpu") +
                        " 2>&1";
  std::printf("  pytorch  ");
  std::fflush(stdout);
  int status = std::system(command.c_str());
  if (status != 0) std::printf("  (PyTorch run unavailable: set FTHOST_BENCH_PYTHON to a python with torch + transformers)\n");
  return 0;
}
