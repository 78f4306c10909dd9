// Training behaviour on small models: overfitting one batch, a 200-step run whose smoothed loss
// keeps falling, and bit-identical trajectories for the same seed.

#include <cmath>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "data/token_dataset.hpp"
#include "model/model_weights.hpp"
#include "train/trainer.hpp"

namespace {

fthost::model::ModelConfig tiny_llama() {
  auto config = fthost::model::parse_model_config(
      R"({"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "max_position_embeddings": 64, "rms_norm_eps": 1e-5})",
      "tiny_llama");
  REQUIRE(config.ok());
  return *config;
}

// Documents of a small "language": arithmetic-like sequences a model can learn.
fthost::data::TokenDataset patterned_documents(std::size_t count, std::uint32_t seed) {
  std::vector<std::vector<std::int32_t>> documents;
  std::uint32_t state = seed;
  for (std::size_t i = 0; i < count; ++i) {
    state = state * 1664525u + 1013904223u;
    auto start = static_cast<std::int32_t>(state >> 26);        // 0..63
    auto stride = static_cast<std::int32_t>(1 + (state >> 12) % 3);
    std::vector<std::int32_t> document;
    for (std::int32_t t = 0; t < 24; ++t) document.push_back((start + stride * t) % 64);
    documents.push_back(std::move(document));
  }
  return fthost::data::TokenDataset::from_documents(documents);
}

struct Run {
  std::vector<double> losses;
};

Run train(const fthost::data::TokenDataset& dataset, std::int64_t steps, double lr, std::uint64_t seed,
          std::int64_t micro_batch = 4) {
  auto backend = fthost::backend::make_cpu_backend();
  fthost::model::Transformer model(tiny_llama(), *backend);
  fthost::model::initialize_transformer(model, seed);
  fthost::train::TrainingSettings settings;
  settings.schedule.peak = lr;
  settings.schedule.total_steps = steps;
  settings.max_grad_norm = 1.0;
  fthost::train::Trainer trainer(model, settings);
  fthost::data::BatchStream stream(fthost::data::pack_rows(dataset, 32, true), 32, micro_batch, seed, true);
  Run run;
  for (std::int64_t step = 0; step < steps; ++step) {
    auto record = trainer.step(stream);
    REQUIRE(record.ok());
    run.losses.push_back(record->loss);
  }
  return run;
}

}  // namespace

TEST_CASE("a small model overfits one batch") {
  // One row of two documents, repeated every step.
  auto dataset = patterned_documents(2, 7);
  Run run = train(dataset, 150, 1e-2, 1, /*micro_batch=*/1);
  INFO("first loss " << run.losses.front() << ", last " << run.losses.back());
  CHECK(run.losses.front() > 3.5);  // about log(64) at initialisation
  CHECK(run.losses.back() < 0.05);
}

TEST_CASE("200 steps on a fixed set: the moving average of the loss falls in every window") {
  auto dataset = patterned_documents(64, 11);
  Run run = train(dataset, 200, 3e-3, 5);
  std::vector<double> window_means;
  for (std::size_t first = 0; first < run.losses.size(); first += 20) {
    double sum = 0.0;
    for (std::size_t i = first; i < first + 20; ++i) sum += run.losses[i];
    window_means.push_back(sum / 20.0);
  }
  for (std::size_t i = 1; i < window_means.size(); ++i) {
    CAPTURE(i);
    CHECK(window_means[i] < window_means[i - 1]);
  }
  CHECK(window_means.back() < 0.5 * window_means.front());
}

TEST_CASE("the same seed gives the same loss trajectory bit for bit; another seed does not") {
  auto dataset = patterned_documents(16, 3);
  Run first = train(dataset, 12, 3e-3, 42);
  Run second = train(dataset, 12, 3e-3, 42);
  Run other = train(dataset, 12, 3e-3, 43);
  CHECK(first.losses == second.losses);
  CHECK(first.losses != other.losses);
}
