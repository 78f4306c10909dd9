// fthost's CPU backend against PyTorch + transformers on the recorded tiny models: logits, loss,
// every parameter gradient, ten AdamW steps (with and without clipping) and packed documents.
//
// Tolerance: 1e-5 relative (max |difference| over a tensor / max |reference value|). The
// fixtures' own float64 reruns show float32 rounding moves logits by ~4e-7 and gradients by ~1e-7,
// so 1e-5 leaves room for a different summation order while still catching any wrong formula.

#include <cmath>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "model/model_weights.hpp"
#include "reference_case.hpp"
#include "train/optimizer.hpp"

using fthost::testing::ReferenceCase;
using fthost::testing::download;
using fthost::testing::relative_error;

namespace {

constexpr double tolerance = 1e-5;

}  // namespace

TEST_CASE("logits, loss and every gradient match PyTorch") {
  for (const char* name : fthost::testing::reference_case_names) {
    CAPTURE(name);
    ReferenceCase reference(name);
    auto backend = fthost::backend::make_cpu_backend();
    auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
    auto& model = **loaded;
    fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());

    CHECK(relative_error(download(*backend, model.logits(batch)), reference.floats("logits")) < tolerance);

    fthost::model::ParameterSet gradients(model.layout(), *backend);
    double loss_sum = model.forward_backward(batch, &gradients, 1.0f / static_cast<float>(batch.target_count));
    double loss = loss_sum / static_cast<double>(batch.target_count);
    double expected_loss = reference.floats("loss")[0];
    CHECK(std::abs(loss - expected_loss) / expected_loss < tolerance);

    for (const auto& spec : model.layout().specs()) {
      CAPTURE(spec.name);
      std::vector<float> expected = reference.floats("grad." + spec.name);
      std::vector<float> actual = download(*backend, gradients.get(spec));
      if (spec.stored_transposed) {  // PyTorch's Conv1D gradient is [in, out]
        std::vector<float> transposed(actual.size());
        const auto rows = static_cast<std::size_t>(spec.shape[0]);
        const auto columns = static_cast<std::size_t>(spec.shape[1]);
        for (std::size_t r = 0; r < rows; ++r) {
          for (std::size_t c = 0; c < columns; ++c) transposed[c * rows + r] = actual[r * columns + c];
        }
        actual = transposed;
      }
      CHECK(relative_error(actual, expected) < tolerance);
    }
  }
}

TEST_CASE("ten AdamW steps follow PyTorch's loss trajectory, with and without clipping") {
  for (const char* name : fthost::testing::reference_case_names) {
    for (bool clipped : {false, true}) {
      CAPTURE(name);
      CAPTURE(clipped);
      ReferenceCase reference(name);
      auto backend = fthost::backend::make_cpu_backend();
      auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
      REQUIRE(loaded.ok());
      auto& model = **loaded;
      fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());
      // reference.json: torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01), so every
      // parameter decays; clip_grad_norm_(0.5) in the clipped run.
      fthost::train::AdamWSettings settings;
      settings.weight_decay = 0.01;
      settings.decay_biases_and_norms = true;
      fthost::train::AdamW optimizer(model.layout(), *backend, settings);
      fthost::model::ParameterSet gradients(model.layout(), *backend);
      std::vector<float> losses;
      std::vector<float> norms;
      for (int step = 0; step < 10; ++step) {
        backend->fill(gradients.buffer(), 0.0f);
        double loss_sum = model.forward_backward(batch, &gradients, 1.0f / static_cast<float>(batch.target_count));
        losses.push_back(static_cast<float>(loss_sum / static_cast<double>(batch.target_count)));
        if (clipped) {
          double norm = optimizer.gradient_norm(gradients);
          norms.push_back(static_cast<float>(norm));
          optimizer.clip(gradients, norm, 0.5);
        }
        optimizer.step(model.parameters(), gradients, 1e-3);
      }
      CHECK(relative_error(losses, reference.floats(clipped ? "train_losses_clipped" : "train_losses")) < tolerance);
      if (clipped) CHECK(relative_error(norms, reference.floats("grad_norms_clipped")) < tolerance);
    }
  }
}

TEST_CASE("packed documents give the logits of each document run alone") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
  REQUIRE(loaded.ok());
  std::vector<std::int64_t> ids = reference.integers("packed_input_ids");
  std::vector<std::int64_t> lengths = reference.integers("packed_doc_lengths");
  std::vector<std::vector<std::int32_t>> documents;
  std::size_t next = 0;
  for (std::int64_t length : lengths) {
    documents.emplace_back();
    for (std::int64_t i = 0; i < length; ++i) documents.back().push_back(static_cast<std::int32_t>(ids[next++]));
  }
  fthost::model::HostBatch host;
  host.seq_len = static_cast<std::int64_t>(ids.size());
  host.add_row(documents);
  fthost::model::Batch batch = fthost::model::upload_batch(*backend, host);
  CHECK(relative_error(download(*backend, (*loaded)->logits(batch)), reference.floats("packed_logits")) < tolerance);
}

TEST_CASE("activation checkpointing changes memory, not numbers") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
  REQUIRE(loaded.ok());
  auto& model = **loaded;
  fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());
  const float scale = 1.0f / static_cast<float>(batch.target_count);

  fthost::model::ParameterSet plain(model.layout(), *backend);
  double plain_loss = model.forward_backward(batch, &plain, scale);
  model.set_activation_checkpointing({true, 1});
  fthost::model::ParameterSet recomputed(model.layout(), *backend);
  double recomputed_loss = model.forward_backward(batch, &recomputed, scale);
  CHECK(plain_loss == recomputed_loss);
  CHECK(download(*backend, plain.buffer()) == download(*backend, recomputed.buffer()));
}

TEST_CASE("the chunked loss equals the loss of the full logits matrix") {
  ReferenceCase reference("qwen2_bias_tied");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
  REQUIRE(loaded.ok());
  auto& model = **loaded;
  fthost::model::Batch batch = fthost::model::upload_batch(*backend, reference.input_batch());

  // Reference: every row's logits at once, then one cross-entropy over all rows.
  fthost::backend::Tensor logits = model.logits(batch);
  fthost::backend::Tensor losses = backend->empty(fthost::backend::DType::f32, {batch.rows()});
  backend->cross_entropy_rows(losses, logits, batch.targets.reshape({batch.rows()}), 0.0f);
  double full = 0.0;
  for (float loss : download(*backend, losses)) full += static_cast<double>(loss);

  for (std::int64_t chunk : {1, 5, 7, 48}) {
    CAPTURE(chunk);
    model.set_loss_chunk_rows(chunk);
    double chunked = model.loss_sum(batch);
    CHECK(std::abs(chunked - full) / full < 1e-6);
  }
}

TEST_CASE("every projection is a linear site named as Hugging Face names the module") {
  ReferenceCase reference("llama_gqa");
  auto backend = fthost::backend::make_cpu_backend();
  auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
  REQUIRE(loaded.ok());
  auto sites = (*loaded)->linear_sites();
  REQUIRE(sites.size() == 2 * 7 + 1);
  CHECK(sites[0].name == "model.layers.0.self_attn.q_proj");
  CHECK(sites[1].name == "model.layers.0.self_attn.k_proj");
  CHECK(sites[1].out_features == 32);  // 2 key/value heads of 16
  CHECK(sites.back().name == "lm_head");
  CHECK(sites.back().is_output_head);
  for (const auto& site : sites) {
    CAPTURE(site.name);
    const auto* weight = (*loaded)->layout().find(site.name + ".weight");
    REQUIRE(weight != nullptr);
    CHECK(weight->shape == fthost::backend::Shape{site.out_features, site.in_features});
  }
}
