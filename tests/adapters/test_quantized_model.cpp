// Quantized base models through the whole transformer. bitsandbytes is the oracle where it can be
// (tests/fixtures/bnb: tiny Llama folders transformers + bitsandbytes 0.50.2 saved in NF4 with
// double quantization, FP4 and LLM.int8(), with the logits they compute on the CPU, made by
// tools/make_bnb_model_fixtures.py); the rest are properties a quantized base must have: it is
// the dense model with the dequantized weights (forward, and the adapter gradients that flow
// through it), it costs what its format says in memory, and it survives save and load.

#include <cmath>
#include <cstring>
#include <filesystem>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "fthost/runtime/quantized_folder.hpp"
#include "lora_strategy.hpp"
#include "model/linear_sites.hpp"
#include "model/model_weights.hpp"
#include "model/safetensors.hpp"
#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "reference_case.hpp"
#include "train/training_run.hpp"

using fthost::testing::download;
using fthost::testing::relative_error;
namespace fs = std::filesystem;

namespace {

fs::path bnb_fixture(const std::string& name) {
  return fs::path(FTHOST_TEST_SOURCE_DIR) / "tests" / "fixtures" / "bnb" / name;
}

const fthost::runtime::PluginRegistry& registry() {
  static auto discovered = fthost::runtime::PluginRegistry::discover({FTHOST_TEST_BUILD_PLUGIN_DIR});
  REQUIRE_MESSAGE(discovered.ok(), (discovered.ok() ? "" : discovered.error().message));
  return *discovered;
}

// A bnb reference file: input_ids and the logits transformers + bitsandbytes computed.
struct BnbReference {
  explicit BnbReference(const std::string& name) {
    auto opened = fthost::model::SafetensorsFile::open(bnb_fixture(name + ".reference.safetensors"));
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    file = std::make_unique<fthost::model::SafetensorsFile>(std::move(*opened));
  }
  std::vector<float> floats(const std::string& key) const {
    const auto* tensor = file->find(key);
    REQUIRE_MESSAGE(tensor != nullptr, "reference tensor missing: " << key);
    std::vector<float> values(static_cast<std::size_t>(tensor->element_count()));
    std::memcpy(values.data(), tensor->bytes.data(), values.size() * sizeof(float));
    return values;
  }
  fthost::model::HostBatch batch() const {
    const auto* tensor = file->find("input_ids");
    REQUIRE(tensor != nullptr);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(tensor->element_count()));
    std::memcpy(ids.data(), tensor->bytes.data(), ids.size() * sizeof(std::int64_t));
    fthost::model::HostBatch host;
    host.seq_len = tensor->shape[1];
    for (std::int64_t row = 0; row < tensor->shape[0]; ++row) {
      std::vector<std::int32_t> document;
      for (std::int64_t t = 0; t < host.seq_len; ++t) {
        document.push_back(static_cast<std::int32_t>(ids[static_cast<std::size_t>(row * host.seq_len + t)]));
      }
      std::vector<std::vector<std::int32_t>> documents = {document};
      host.add_row(documents);
    }
    return host;
  }
  std::unique_ptr<fthost::model::SafetensorsFile> file;
};

// A folder loaded as `fthost eval` loads it: a quantized one through the plugin its config names.
struct LoadedModel {
  std::unique_ptr<fthost::backend::Backend> backend = fthost::backend::make_cpu_backend();
  std::optional<fthost::runtime::LoadedQuantizationStrategy> quantization;
  std::unique_ptr<fthost::model::Transformer> model;
};

LoadedModel load_folder(const fs::path& folder) {
  LoadedModel loaded;
  auto config = fthost::model::load_model_config(folder);
  REQUIRE(config.ok());
  fthost::sdk::PipelineFacts facts;
  facts.sites = fthost::model::linear_sites(*config);
  auto strategy = fthost::runtime::load_folder_quantization(folder, registry(), facts);
  REQUIRE_MESSAGE(strategy.ok(), (strategy.ok() ? "" : strategy.error().message));
  fthost::model::QuantizationChoice choice;
  if (*strategy) {
    loaded.quantization = std::move(**strategy);
    choice = {&loaded.quantization->quantization(), loaded.quantization->plugin.name};
  }
  std::vector<std::string> ignored;
  auto model = fthost::model::load_transformer(folder, *loaded.backend, &ignored, choice);
  REQUIRE_MESSAGE(model.ok(), (model.ok() ? "" : model.error().message));
  CHECK_MESSAGE(ignored.empty(), "unused tensors, e.g. " << (ignored.empty() ? "" : ignored.front()));
  loaded.model = std::move(*model);
  return loaded;
}

template <typename Schema>
fthost::sdk::Options options_of(const Schema& schema, std::map<std::string, fthost::sdk::OptionValue> values) {
  fthost::sdk::Options options;
  for (const fthost::sdk::OptionSpec& spec : schema.specs()) options.set(spec.name, *spec.default_value);
  for (auto& [key, value] : values) options.set(key, value);
  return options;
}

}  // namespace

TEST_CASE("bitsandbytes' NF4 and FP4 folders: fthost reads them as saved and computes bitsandbytes' logits") {
  // bitsandbytes' f32 path (dequantize, then an f32 matmul): the dense model with the
  // dequantized weights, so fthost's f32 transformer agrees to float rounding (1e-5, as the
  // PyTorch reference tests).
  for (const char* name : {"tiny_llama_nf4", "tiny_llama_fp4"}) {
    CAPTURE(name);
    LoadedModel loaded = load_folder(bnb_fixture(name));
    REQUIRE(loaded.model->quantized() != nullptr);
    CHECK(loaded.model->quantized()->sites().size() == 14);  // every decoder linear; lm_head dense
    BnbReference reference(name);
    fthost::model::Batch batch = fthost::model::upload_batch(*loaded.backend, reference.batch());
    std::vector<float> logits = download(*loaded.backend, loaded.model->logits(batch));
    CHECK(relative_error(logits, reference.floats("logits")) < 1e-5);
    // ...and quantization matters: the dense model is far from it
    BnbReference dense("tiny_llama_dense");
    CHECK(relative_error(logits, dense.floats("logits")) > 1e-2);
  }
}

TEST_CASE("bitsandbytes' LLM.int8() folder: fthost's int8 matmul gives bitsandbytes' logits") {
  // bitsandbytes quantizes each input row from its fp16 cast, multiplies int8 x int8 exactly and
  // adds the outlier columns (|x| >= 6: the fixture plants some) unquantized; so does fthost, with
  // bitsandbytes' CPU rescaling constant: the logits agree to f32 summation order (1e-5).
  LoadedModel loaded = load_folder(bnb_fixture("tiny_llama_int8"));
  REQUIRE(loaded.model->quantized() != nullptr);
  BnbReference reference("tiny_llama_int8");
  fthost::model::Batch batch = fthost::model::upload_batch(*loaded.backend, reference.batch());
  std::vector<float> logits = download(*loaded.backend, loaded.model->logits(batch));
  CHECK(relative_error(logits, reference.floats("logits")) < 1e-5);
  BnbReference dense("tiny_llama_dense");
  CHECK(relative_error(logits, dense.floats("logits")) > 1e-2);
}

TEST_CASE("quantizing the dense folder gives the bytes bitsandbytes saved, and save -> load keeps them") {
  auto options = options_of(fthost::plugins::quant_nf4_option_schema(), {{"double_quant", true}});
  fthost::plugins::Nf4QuantizationStrategy nf4(options);
  auto backend = fthost::backend::make_cpu_backend();
  auto from_dense = fthost::model::load_transformer(bnb_fixture("tiny_llama_dense"), *backend, nullptr, {&nf4, "quant_nf4"});
  REQUIRE(from_dense.ok());
  LoadedModel saved_by_bnb = load_folder(bnb_fixture("tiny_llama_nf4"));
  for (const auto& site : (*from_dense)->quantized()->sites()) {
    CAPTURE(site.site.name);
    const auto* theirs = saved_by_bnb.model->quantized()->find(site.site.name);
    REQUIRE(theirs != nullptr);
    REQUIRE(theirs->stored.size() == site.stored.size());
    for (std::size_t i = 0; i < site.stored.size(); ++i) {
      CAPTURE(site.layout[i].name);
      REQUIRE(theirs->stored[i].nbytes() == site.stored[i].nbytes());
      const auto* ours_bytes = reinterpret_cast<const std::uint8_t*>(site.stored[i].raw());
      const auto* their_bytes = reinterpret_cast<const std::uint8_t*>(theirs->stored[i].raw());
      if (site.layout[i].name == "weight") {
        // the 4-bit codes: chosen with the exact absmax, byte for byte bitsandbytes'
        CHECK(std::memcmp(their_bytes, ours_bytes, site.stored[i].nbytes()) == 0);
      } else if (site.layout[i].name == "weight.absmax") {
        // 8-bit absmax codes: the nearest dynamic-map value of (absmax - mean) / nested absmax.
        // torch's f32 mean and fthost's (summed in double) can differ in the last bit, which
        // moves a code only where a value sits on a midpoint: at most one code per site, by one.
        std::size_t differing = 0;
        for (std::size_t b = 0; b < site.stored[i].nbytes(); ++b) {
          if (ours_bytes[b] != their_bytes[b]) {
            ++differing;
            CHECK(std::abs(int{ours_bytes[b]} - int{their_bytes[b]}) == 1);
          }
        }
        CHECK(differing <= 1);
      } else {
        // nested absmax and the offset: f32 values equal to a few ulp
        auto ours = download(*backend, site.stored[i]);
        auto theirs_values = download(*backend, theirs->stored[i]);
        CHECK(relative_error(ours, theirs_values) < 1e-6);
      }
    }
  }

  // fthost's own folder reads back byte for byte and computes the same logits
  const fs::path folder = fs::temp_directory_path() / "fthost-test-quantized-save";
  fs::remove_all(folder);
  auto written = fthost::model::save_transformer(**from_dense, folder);
  REQUIRE_MESSAGE(written.ok(), (written.ok() ? "" : written.error().message));
  LoadedModel reloaded = load_folder(folder);
  REQUIRE(reloaded.quantization.has_value());
  CHECK(reloaded.quantization->plugin.name == "quant_nf4");
  BnbReference reference("tiny_llama_nf4");
  fthost::model::Batch batch = fthost::model::upload_batch(*reloaded.backend, reference.batch());
  CHECK(relative_error(download(*reloaded.backend, reloaded.model->logits(batch)), reference.floats("logits")) < 1e-5);
  fs::remove_all(folder);
}

TEST_CASE("a folder quantized at some sites reads back quantized at those sites only") {
  for (bool four_bit : {true, false}) {
    CAPTURE(four_bit);
    const std::vector<std::string> targets = {"q_proj", "down_proj"};
    std::unique_ptr<fthost::sdk::QuantizationStrategy> strategy;
    if (four_bit) {
      strategy = std::make_unique<fthost::plugins::Nf4QuantizationStrategy>(
          options_of(fthost::plugins::quant_nf4_option_schema(), {{"target_modules", targets}}));
    } else {
      strategy = std::make_unique<fthost::plugins::Int8QuantizationStrategy>(
          options_of(fthost::plugins::quant_int8_option_schema(), {{"target_modules", targets}}));
    }
    auto backend = fthost::backend::make_cpu_backend();
    auto quantized = fthost::model::load_transformer(bnb_fixture("tiny_llama_dense"), *backend, nullptr, {strategy.get(), "q"});
    REQUIRE(quantized.ok());
    REQUIRE((*quantized)->quantized()->sites().size() == 4);  // 2 layers x (q_proj, down_proj)
    const fs::path folder = fs::temp_directory_path() / "fthost-test-quantized-targets";
    fs::remove_all(folder);
    REQUIRE(fthost::model::save_transformer(**quantized, folder).ok());
    LoadedModel reloaded = load_folder(folder);
    CHECK(reloaded.model->quantized()->sites().size() == 4);
    fs::remove_all(folder);
  }
}

TEST_CASE("quantized weights cost what their format says, through the allocator") {
  // NF4: 0.5 byte per weight + an f32 absmax per 64 (4.5 bits); with double quantization an 8-bit
  // absmax code per 64 + an f32 per 256 blocks + the f32 offset (4.127 bits). int8: 1 byte + an
  // f32 scale per output row. The dense weights of those sites are never allocated.
  auto backend = fthost::backend::make_cpu_backend();
  auto config = fthost::model::load_model_config(bnb_fixture("tiny_llama_dense"));
  REQUIRE(config.ok());
  std::int64_t quantized_weights = 0;
  std::int64_t blocks = 0;
  std::int64_t nested = 0;
  std::int64_t rows = 0;
  std::int64_t sites = 0;
  for (const auto& site : fthost::model::linear_sites(*config)) {
    if (site.is_output_head) continue;
    const std::int64_t count = site.in_features * site.out_features;
    quantized_weights += count;
    blocks += (count + 63) / 64;
    nested += ((count + 63) / 64 + 255) / 256;
    rows += site.out_features;
    ++sites;
  }
  fthost::plugins::Nf4QuantizationStrategy nf4(options_of(fthost::plugins::quant_nf4_option_schema(), {}));
  fthost::plugins::Nf4QuantizationStrategy nf4_dq(
      options_of(fthost::plugins::quant_nf4_option_schema(), {{"double_quant", true}}));
  fthost::plugins::Int8QuantizationStrategy int8(options_of(fthost::plugins::quant_int8_option_schema(), {}));
  struct Case {
    const fthost::sdk::QuantizationStrategy* strategy;
    std::int64_t expected_bytes;
  };
  const std::int64_t dense_bytes = quantized_weights * 4;
  for (Case c : {Case{&nf4, quantized_weights / 2 + blocks * 4}, Case{&nf4_dq, quantized_weights / 2 + blocks + nested * 4 + sites * 4},
                 Case{&int8, quantized_weights + rows * 4}}) {
    const std::int64_t before = static_cast<std::int64_t>(backend->allocator().stats().current_bytes);
    auto dense = fthost::model::load_transformer(bnb_fixture("tiny_llama_dense"), *backend);
    REQUIRE(dense.ok());
    const std::int64_t dense_model = static_cast<std::int64_t>(backend->allocator().stats().current_bytes) - before;
    dense->reset();
    auto quantized = fthost::model::load_transformer(bnb_fixture("tiny_llama_dense"), *backend, nullptr, {c.strategy, "q"});
    REQUIRE(quantized.ok());
    const std::int64_t quantized_model = static_cast<std::int64_t>(backend->allocator().stats().current_bytes) - before;
    CHECK((*quantized)->quantized()->stored_bytes() == c.expected_bytes);
    // the whole model shrinks by the dense weights minus their quantized form (up to the
    // parameter buffer's 64-byte alignment padding: under 64 bytes per tensor,
    const std::int64_t saved = dense_model - quantized_model;
    // and each stored tensor's allocation rounding: 64 bytes, up to 4 tensors per site)
    CHECK(saved <= dense_bytes - c.expected_bytes + sites * 64);
    CHECK(saved >= dense_bytes - c.expected_bytes - sites * 64 * 5);
  }
  // the arithmetic the plugins report for planning
  CHECK(nf4.bits_per_weight() == doctest::Approx(4.5));
  CHECK(nf4_dq.bits_per_weight() == doctest::Approx(4.0 + 8.0 / 64 + 32.0 / (64 * 256)));
}

TEST_CASE("QLoRA: a quantized base computes the dequantized dense model, and LoRA's gradients through it agree") {
  // Forward and the input gradients the quantized sites pass down are those of the dense model
  // whose weights are the dequantized ones: the LoRA gradients of every layer (which flow through
  // every quantized site above them) equal the dense model's to float rounding.
  for (const char* folder : {"tiny_llama_nf4", "tiny_llama_int8"}) {
    CAPTURE(folder);
    LoadedModel loaded = load_folder(bnb_fixture(folder));
    auto dense = fthost::model::dense_copy(*loaded.model);
    fthost::plugins::LoraStrategy lora(options_of(fthost::plugins::lora_option_schema(),
                                                  {{"target_modules", std::vector<std::string>{"all-linear"}},
                                                   {"init_lora_weights", std::string("gaussian")}}));
    for (auto* model : {loaded.model.get(), dense.get()}) {
      REQUIRE(fthost::train::attach_adapter(*model, lora, "lora", "base").ok());
      model->adapters()->initialize(3, model->parameters());
      // B = 0 at init would hide the input gradient of A: give B values
      auto b = model->adapters()->parameters().get("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight");
      std::vector<float> values(static_cast<std::size_t>(b.numel()), 0.05f);
      loaded.backend->upload(b, values.data());
    }
    BnbReference reference(folder);
    fthost::model::Batch batch = fthost::model::upload_batch(*loaded.backend, reference.batch());
    fthost::model::ParameterSet quantized_gradients(loaded.model->adapters()->layout(), *loaded.backend);
    fthost::model::ParameterSet dense_gradients(dense->adapters()->layout(), *loaded.backend);
    const float scale = 1.0f / static_cast<float>(batch.target_count);
    const double quantized_loss =
        loaded.model->forward_backward(batch, fthost::model::Gradients{nullptr, &quantized_gradients}, scale);
    const double dense_loss = dense->forward_backward(batch, fthost::model::Gradients{nullptr, &dense_gradients}, scale);
    if (std::string(folder) == "tiny_llama_nf4") {
      CHECK(std::abs(quantized_loss - dense_loss) / dense_loss < 1e-5);
      for (const auto& spec : loaded.model->adapters()->layout().specs()) {
        CAPTURE(spec.name);
        CHECK(relative_error(download(*loaded.backend, quantized_gradients.get(spec)),
                             download(*loaded.backend, dense_gradients.get(spec.name))) < 1e-4);
      }
    } else {
      // int8 quantizes the activations too (per token row): close to, not equal to, the dense
      // model with int8-dequantized weights. Its backward is that dense model's (bitsandbytes:
      // grad_A = grad_out @ dequant(W)), so the gradients differ only through the forward.
      CHECK(std::abs(quantized_loss - dense_loss) / dense_loss < 1e-2);
      for (const auto& spec : loaded.model->adapters()->layout().specs()) {
        CAPTURE(spec.name);
        CHECK(relative_error(download(*loaded.backend, quantized_gradients.get(spec)),
                             download(*loaded.backend, dense_gradients.get(spec.name))) < 5e-2);
      }
    }
    // the base never forms a gradient: there is no gradient buffer for it, and its stored bytes
    // are unchanged by a step's forward and backward
  }
}

TEST_CASE("GPT-2 quantized as it loads: Conv1D weights transposed first, biases added after the plugin's matmul") {
  // The dense model with the dequantized weights is the oracle; the biases and the [in, out]
  // Conv1D layout are what GPT-2 adds over Llama.
  fthost::plugins::Nf4QuantizationStrategy nf4(options_of(fthost::plugins::quant_nf4_option_schema(), {}));
  fthost::plugins::Int8QuantizationStrategy int8(
      options_of(fthost::plugins::quant_int8_option_schema(), {{"llm_int8_threshold", 0.0}}));
  for (const fthost::sdk::QuantizationStrategy* strategy :
       std::initializer_list<const fthost::sdk::QuantizationStrategy*>{&nf4, &int8}) {
    auto backend = fthost::backend::make_cpu_backend();
    const fs::path folder = fthost::testing::reference_folder("gpt2");
    auto quantized = fthost::model::load_transformer(folder, *backend, nullptr, {strategy, "q"});
    REQUIRE_MESSAGE(quantized.ok(), (quantized.ok() ? "" : quantized.error().message));
    REQUIRE((*quantized)->quantized()->sites().size() == 8);
    auto dense = fthost::model::dense_copy(**quantized);
    fthost::testing::ReferenceCase reference("gpt2");
    fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());
    std::vector<float> logits = download(*backend, (*quantized)->logits(batch));
    std::vector<float> dense_logits = download(*backend, dense->logits(batch));
    if (strategy == &nf4) {
      CHECK(relative_error(logits, dense_logits) < 1e-5);
    } else {
      // int8 also quantizes the activations: close to the dequantized dense model, not equal
      CHECK(relative_error(logits, dense_logits) < 2e-2);
    }
    // and far from the model the reference folder holds when quantization changes it
    CHECK(relative_error(logits, reference.floats("logits")) > 1e-4);
    CHECK(relative_error(logits, reference.floats("logits")) < 0.2);
  }
}
