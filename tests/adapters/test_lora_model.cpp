// LoRA attached to whole models. PEFT is the oracle where it can be (tests/fixtures/peft: logits,
// loss and every LoRA gradient of an adapter PEFT saved, and PEFT's logits for an adapter fthost
// saved); finite differences cover what PEFT's fixture does not (dropout); the rest are
// properties PEFT guarantees: B = 0 leaves the model unchanged, merge equals base + adapter, only
// targeted sites adapt, the base stays frozen and holds no gradient or optimizer memory.
//
// Tolerance against PEFT: 1e-5 relative over a tensor, as tests/transformer/test_reference.cpp
// (float32 rounding moves logits by ~4e-7 there; the LoRA branch adds two small GEMMs).

#include <cmath>
#include <filesystem>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "fthost/runtime/adapter_folder.hpp"
#include "lora_strategy.hpp"
#include "model/adapter_io.hpp"
#include "model/linear_sites.hpp"
#include "model/model_weights.hpp"
#include "reference_case.hpp"
#include "train/trainer.hpp"
#include "train/training_run.hpp"

using fthost::testing::ReferenceCase;
using fthost::testing::download;
using fthost::testing::relative_error;
namespace fs = std::filesystem;

namespace {

constexpr double tolerance = 1e-5;

fs::path peft_folder(const std::string& name) {
  return fs::path(FTHOST_TEST_SOURCE_DIR) / "tests" / "fixtures" / "peft" / name;
}

fthost::sdk::PipelineFacts facts_for(const fthost::model::Transformer& model) {
  fthost::sdk::PipelineFacts facts;
  facts.sites = model.linear_sites();
  return facts;
}

// The bundled plugins as `fthost` finds them in the build tree.
const fthost::runtime::PluginRegistry& registry() {
  static auto discovered = fthost::runtime::PluginRegistry::discover({FTHOST_TEST_BUILD_PLUGIN_DIR});
  REQUIRE_MESSAGE(discovered.ok(), (discovered.ok() ? "" : discovered.error().message));
  return *discovered;
}

struct AdaptedModel {
  std::unique_ptr<fthost::backend::Backend> backend = fthost::backend::make_cpu_backend();
  std::unique_ptr<fthost::model::Transformer> model;
  fthost::runtime::LoadedAdapterStrategy strategy;
};

// Base `reference_case` + the adapter folder, loaded as `fthost eval --adapter` does.
AdaptedModel load_adapted(const std::string& reference_case, const fs::path& adapter_folder) {
  AdaptedModel adapted;
  auto loaded = fthost::model::load_transformer(fthost::testing::reference_folder(reference_case), *adapted.backend);
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  adapted.model = std::move(*loaded);
  auto strategy = fthost::runtime::load_adapter_strategy(adapter_folder, registry(), facts_for(*adapted.model));
  REQUIRE_MESSAGE(strategy.ok(), (strategy.ok() ? "" : strategy.error().message));
  adapted.strategy = std::move(*strategy);
  auto attached = fthost::train::attach_adapter(*adapted.model, adapted.strategy.adapter(), "lora", "base");
  REQUIRE_MESSAGE(attached.ok(), (attached.ok() ? "" : attached.error().message));
  auto weights =
      fthost::model::load_adapter_weights(*adapted.model->adapters(), adapter_folder, &adapted.model->parameters());
  REQUIRE_MESSAGE(weights.ok(), (weights.ok() ? "" : weights.error().message));
  return adapted;
}

// The llama_gqa reference model without an adapter.
std::unique_ptr<fthost::model::Transformer> load_reference_model(const ReferenceCase& reference,
                                                                 fthost::backend::Backend& backend) {
  auto loaded = fthost::model::load_transformer(reference.folder(), backend);
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  return std::move(*loaded);
}

fthost::sdk::Options lora_options(std::map<std::string, fthost::sdk::OptionValue> values) {
  fthost::sdk::OptionSchema schema = fthost::plugins::lora_option_schema();
  fthost::sdk::Options options;
  for (const fthost::sdk::OptionSpec& spec : schema.specs()) options.set(spec.name, *spec.default_value);
  for (auto& [key, value] : values) options.set(key, value);
  return options;
}

}  // namespace

TEST_CASE("an adapter PEFT saved: fthost's logits, loss and LoRA gradients equal PEFT's") {
  // (base model, adapter fixture): LoRA on all linears; on GPT-2's Conv1D; with modules_to_save; on lm_head
  for (auto [name, fixture] : {std::pair{"llama_gqa", "llama_gqa_peft"}, std::pair{"gpt2", "gpt2_peft"},
                               std::pair{"llama_gqa", "llama_gqa_modules_peft"}, std::pair{"llama_gqa", "llama_gqa_head_peft"}}) {
    CAPTURE(fixture);
    const fs::path folder = peft_folder(fixture);
    AdaptedModel adapted = load_adapted(name, folder);
    fthost::model::Transformer& model = *adapted.model;
    ReferenceCase reference(name);
    ReferenceCase peft("../peft/" + std::string(fixture));
    fthost::model::Batch batch = fthost::model::upload_batch(*adapted.backend, reference.input_batch());

    CHECK(relative_error(download(*adapted.backend, model.logits(batch)), peft.floats("logits")) < tolerance);

    fthost::model::ParameterSet gradients(model.adapters()->layout(), *adapted.backend);
    const double loss_sum = model.forward_backward(batch, fthost::model::Gradients{nullptr, &gradients},
                                                   1.0f / static_cast<float>(batch.target_count));
    const double loss = loss_sum / static_cast<double>(batch.target_count);
    const double expected_loss = peft.floats("loss")[0];
    CHECK(std::abs(loss - expected_loss) / expected_loss < tolerance);
    CHECK(model.adapters()->layout().specs().size() > 0);
    if (std::string(fixture) == "llama_gqa_modules_peft") {
      // the head's trained copy is an adapter tensor; the base head keeps its value
      REQUIRE(model.adapters()->layout().find("base_model.model.lm_head.weight") != nullptr);
      CHECK(download(*adapted.backend, model.adapters()->parameters().get("base_model.model.lm_head.weight")) !=
            download(*adapted.backend, model.parameters().get("lm_head.weight")));
    }
    for (const fthost::model::ParameterSpec& spec : model.adapters()->layout().specs()) {
      CAPTURE(spec.name);
      CHECK(relative_error(download(*adapted.backend, gradients.get(spec)), peft.floats("grad." + spec.name)) <
            tolerance);
    }
  }
}

TEST_CASE("an adapter fthost saved: PEFT loaded it and computed the logits fthost computes") {
  for (const char* name : {"llama_gqa", "gpt2"}) {
    CAPTURE(name);
    AdaptedModel adapted = load_adapted(name, peft_folder(std::string(name) + "_fthost"));
    ReferenceCase reference(name);
    ReferenceCase peft("../peft/" + std::string(name) + "_fthost");
    fthost::model::Batch batch = fthost::model::upload_batch(*adapted.backend, reference.input_batch());
    std::vector<float> base_and_adapter = download(*adapted.backend, adapted.model->logits(batch));
    CHECK(relative_error(base_and_adapter, peft.floats("logits")) < tolerance);
    // and the adapter matters: without it the logits differ by far more than the tolerance
    adapted.model->attach_adapters(nullptr);
    CHECK(relative_error(download(*adapted.backend, adapted.model->logits(batch)), peft.floats("logits")) > 1e-3);
  }
}

TEST_CASE("merge: the merged model computes what base + adapter computes") {
  for (auto [name, fixture] : {std::pair{"llama_gqa", "llama_gqa_peft"}, std::pair{"gpt2", "gpt2_peft"},
                               std::pair{"llama_gqa", "llama_gqa_modules_peft"}, std::pair{"llama_gqa", "llama_gqa_head_peft"}}) {
    CAPTURE(fixture);
    AdaptedModel adapted = load_adapted(name, peft_folder(fixture));
    ReferenceCase reference(name);
    fthost::model::Batch batch = fthost::model::upload_batch(*adapted.backend, reference.input_batch());
    std::vector<float> unmerged = download(*adapted.backend, adapted.model->logits(batch));
    adapted.model->adapters()->merge_into(adapted.model->parameters());
    adapted.model->attach_adapters(nullptr);
    CHECK(relative_error(download(*adapted.backend, adapted.model->logits(batch)), unmerged) < tolerance);
  }
}

TEST_CASE("default init: B = 0, so the adapted model's logits are the base model's, bit for bit") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = load_reference_model(reference, *backend);
  fthost::model::Transformer& model = *loaded;
  fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());
  std::vector<float> base = download(*backend, model.logits(batch));

  for (const char* init : {"true", "gaussian"}) {
    CAPTURE(init);
    fthost::plugins::LoraStrategy lora(
        lora_options({{"target_modules", std::vector<std::string>{"all-linear"}}, {"init_lora_weights", init}}));
    REQUIRE(fthost::train::attach_adapter(model, lora, "lora", "base").ok());
    model.adapters()->initialize(7, model.parameters());
    CHECK(download(*backend, model.logits(batch)) == base);
    // A is drawn as PEFT draws it: U(-1/sqrt(in), 1/sqrt(in)) or N(0, 1/r^2), never all zero
    std::vector<float> a = download(*backend, model.adapters()->parameters().get(
                                                  "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    float largest = 0.0f;
    for (float value : a) largest = std::max(largest, std::abs(value));
    if (std::string(init) == "true") {
      CHECK(largest <= 1.0f / std::sqrt(64.0f));
      CHECK(largest > 0.9f / std::sqrt(64.0f));
    } else {
      CHECK(largest > 0.25f);  // std 1/8 over 8 * 64 draws reaches 2 sigma
    }
    model.attach_adapters(nullptr);
  }
}

TEST_CASE("only the targeted sites get adapters, named as PEFT saves them") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto model = load_reference_model(reference, *backend);
  fthost::plugins::LoraStrategy lora(lora_options({{"r", std::int64_t{2}}}));  // PEFT's Llama default: q_proj, v_proj
  REQUIRE(fthost::train::attach_adapter(*model, lora, "lora", "base").ok());
  const auto& adapters = *model->adapters();
  std::vector<std::string> names;
  for (const auto& spec : adapters.layout().specs()) names.push_back(spec.name);
  CHECK(names == std::vector<std::string>{
                     "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                     "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                     "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
                     "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
                     "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight",
                     "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
                     "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
                     "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight",
                 });
  CHECK(adapters.layout().find("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight")->shape ==
        fthost::backend::Shape{2, 64});
  CHECK(adapters.layout().find("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight")->shape ==
        fthost::backend::Shape{32, 2});  // 2 key/value heads of 16
}

// Central differences on the loss sum of a training pass (dropout on, its mask fixed by the pass
// seed). Step h = 2.5e-3: measured on this model, the h^2 truncation term dominates above ~5e-3
// (h = 1e-2 is 12% off on a small entry, h = 2.5e-3 within 0.4%), and the f32 rounding of the
// loss sum (~1e-5 of ~100) divided by 2h stays near 2e-3. So: the largest and a middle entry of
// A and B of two sites, within 3e-3 + 1% of the analytic value.
TEST_CASE("LoRA gradients of A and B, with dropout, match finite differences") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = load_reference_model(reference, *backend);
  fthost::model::Transformer& model = *loaded;
  fthost::plugins::LoraStrategy lora(lora_options({{"target_modules", std::vector<std::string>{"all-linear"}},
                                                   {"r", std::int64_t{4}},
                                                   {"lora_alpha", 8.0},
                                                   {"lora_dropout", 0.25},
                                                   {"init_lora_weights", "false"}}));  // B != 0: A gets gradients
  REQUIRE(fthost::train::attach_adapter(model, lora, "lora", "base").ok());
  model.adapters()->initialize(3, model.parameters());
  model.set_pass_seed(99);
  fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());
  fthost::model::ParameterSet gradients(model.adapters()->layout(), *backend);
  auto loss_of_training_pass = [&] {
    backend->fill(gradients.buffer(), 0.0f);
    return model.forward_backward(batch, fthost::model::Gradients{nullptr, &gradients}, 1.0f);
  };
  const double loss = loss_of_training_pass();
  CHECK(loss != doctest::Approx(model.loss_sum(batch)).epsilon(1e-6));  // dropout was on in the training pass
  fthost::model::ParameterSet analytic(model.adapters()->layout(), *backend);
  backend->copy(analytic.buffer(), gradients.buffer());

  for (const char* site : {"model.layers.0.self_attn.k_proj", "model.layers.1.mlp.down_proj"}) {
    for (const char* tensor : {".lora_A.weight", ".lora_B.weight"}) {
      const std::string name = std::string("base_model.model.") + site + tensor;
      CAPTURE(name);
      fthost::backend::Tensor values = model.adapters()->parameters().get(name);
      std::vector<float> expected = download(*backend, analytic.get(name));
      std::size_t largest = 0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        if (std::abs(expected[i]) > std::abs(expected[largest])) largest = i;
      }
      for (std::size_t i : {largest, expected.size() / 2}) {
        constexpr float h = 2.5e-3f;
        float* parameter = values.f32() + i;
        const float saved = *parameter;
        *parameter = saved + h;
        const double plus = loss_of_training_pass();
        *parameter = saved - h;
        const double minus = loss_of_training_pass();
        *parameter = saved;
        const double numeric = (plus - minus) / (2.0 * static_cast<double>(h));
        CAPTURE(i);
        CAPTURE(numeric);
        CAPTURE(expected[i]);
        CHECK(std::abs(numeric - static_cast<double>(expected[i])) < 3e-3 + 0.01 * std::abs(numeric));
      }
      CHECK(std::abs(expected[largest]) > 1e-2);  // the check above compared something that matters
    }
  }
}

TEST_CASE("training LoRA: the base stays frozen, holds no gradient or optimizer memory, and the loss falls") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = load_reference_model(reference, *backend);
  fthost::model::Transformer& model = *loaded;
  std::vector<float> base_before = download(*backend, model.parameters().buffer());
  fthost::plugins::LoraStrategy lora(lora_options(
      {{"target_modules", std::vector<std::string>{"all-linear"}}, {"lora_dropout", 0.1}}));
  REQUIRE(fthost::train::attach_adapter(model, lora, "lora", "base").ok());
  model.adapters()->initialize(1, model.parameters());
  const auto adapter_bytes = static_cast<std::uint64_t>(model.adapters()->layout().total_elements()) * 4;
  const auto model_bytes = static_cast<std::uint64_t>(model.layout().total_elements()) * 4;

  const std::uint64_t before = backend->allocator().stats().current_bytes;
  fthost::train::TrainingSettings settings;
  settings.schedule.peak = 1e-2;
  settings.schedule.total_steps = 40;
  fthost::train::Trainer trainer(model, settings);
  // gradients + AdamW's two moments, all three laid out as the adapter: nothing for the base
  CHECK(backend->allocator().stats().current_bytes - before == 3 * adapter_bytes);
  CHECK(3 * adapter_bytes < model_bytes);  // full fine-tuning would add 3 * model_bytes

  std::vector<std::vector<std::int32_t>> documents;
  std::vector<std::int64_t> ids = reference.integers("input_ids");
  for (std::size_t row = 0; row < 2; ++row) {
    std::vector<std::int32_t>& document = documents.emplace_back();
    for (std::size_t t = 0; t < 24; ++t) document.push_back(static_cast<std::int32_t>(ids[row * 24 + t]));
  }
  const auto dataset = fthost::data::TokenDataset::from_documents(documents);
  fthost::data::BatchStream stream(fthost::data::pack_rows(dataset, 24, false), 24, 2, 1, false);
  double first = 0.0;
  double last = 0.0;
  for (int step = 0; step < 40; ++step) {
    auto record = trainer.step(stream);
    REQUIRE(record.ok());
    if (step == 0) first = record->loss;
    last = record->loss;
  }
  CHECK(last < 0.75 * first);
  CHECK(download(*backend, model.parameters().buffer()) == base_before);
}
