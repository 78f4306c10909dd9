// Generation: decoding with the key/value cache gives the logits a full forward pass gives, on
// the recorded Llama and GPT-2 models; the sampler follows Hugging Face's rules.

#include <cmath>

#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.hpp"
#include "model/generation.hpp"
#include "model/model_weights.hpp"
#include "reference_case.hpp"

using fthost::testing::ReferenceCase;
using fthost::testing::relative_error;

TEST_CASE("cached decoding: every step's logits equal a full forward pass over the whole sequence") {
  for (const char* name : {"llama_gqa", "qwen2_bias_tied", "gpt2"}) {
    CAPTURE(name);
    ReferenceCase reference(name);
    auto backend = fthost::backend::make_cpu_backend();
    auto loaded = fthost::model::load_transformer(reference.folder(), *backend);
    REQUIRE(loaded.ok());
    fthost::model::Transformer& model = **loaded;
    std::vector<std::int64_t> ids = reference.integers("input_ids");
    std::vector<std::int32_t> sequence(ids.begin(), ids.begin() + 20);

    // Expected: the last row of logits over the prefix of length n, without a cache.
    auto full_forward_last = [&](std::size_t n) {
      fthost::model::HostBatch host;
      host.seq_len = static_cast<std::int64_t>(n);
      std::vector<std::vector<std::int32_t>> documents = {std::vector<std::int32_t>(sequence.begin(), sequence.begin() + static_cast<std::ptrdiff_t>(n))};
      host.add_row(documents);
      fthost::backend::Tensor logits = model.logits(fthost::model::upload_batch(*backend, host));
      std::vector<float> last(static_cast<std::size_t>(logits.dim(1)));
      backend->download(last.data(), logits.rows(static_cast<std::int64_t>(n) - 1, 1));
      return last;
    };
    std::vector<std::vector<float>> expected;
    for (std::size_t n = 12; n <= sequence.size(); ++n) expected.push_back(full_forward_last(n));

    fthost::model::Generator generator(model, 24);
    std::vector<float> logits = generator.feed(std::span(sequence).first(12));  // the prompt at once
    CHECK(relative_error(logits, expected[0]) < 1e-5);
    for (std::size_t n = 13; n <= sequence.size(); ++n) {
      CAPTURE(n);
      logits = generator.feed(std::span(sequence).subspan(n - 1, 1));  // then one token at a time
      CHECK(relative_error(logits, expected[n - 12]) < 1e-5);
    }
    CHECK(generator.length() == 20);
    CHECK_THROWS_AS(generator.feed(std::span(sequence).first(5)), std::length_error);
  }
}

TEST_CASE("sampling: greedy, top-k, top-p and temperature as Hugging Face applies them") {
  // probabilities at temperature 1: 0.117, 0.524, 0.026, 0.175 (= 0.524 / 3), 0.158
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f - std::log(3.0f), 0.8f};
  SUBCASE("temperature 0 is argmax") {
    fthost::model::Sampler sampler({0.0, 0, 1.0}, 1);
    CHECK(sampler.next(logits) == 1);
  }
  SUBCASE("top_k = 1 and a tiny top_p both leave only the most likely token") {
    fthost::model::Sampler top_k({5.0, 1, 1.0}, 2);
    fthost::model::Sampler top_p({5.0, 0, 1e-9}, 3);
    for (int i = 0; i < 50; ++i) {
      CHECK(top_k.next(logits) == 1);
      CHECK(top_p.next(logits) == 1);
    }
  }
  SUBCASE("temperature 1 with top_k = 2 draws in proportion to the two largest probabilities (3 : 1)") {
    fthost::model::Sampler sampler({1.0, 2, 1.0}, 4);
    int first = 0;
    const int draws = 4000;
    for (int i = 0; i < draws; ++i) {
      std::int32_t token = sampler.next(logits);
      REQUIRE((token == 1 || token == 3));
      first += token == 1 ? 1 : 0;
    }
    CHECK(static_cast<double>(first) / draws == doctest::Approx(0.75).epsilon(0.04));  // 4 sigma is 0.027
  }
  SUBCASE("top_p keeps the smallest most-likely set reaching p") {
    fthost::model::Sampler sampler({1.0, 0, 0.6}, 5);
    int second = 0;
    for (int i = 0; i < 200; ++i) {
      std::int32_t token = sampler.next(logits);
      CHECK((token == 1 || token == 3));  // 0.524 < 0.6, so the second most likely (token 3) joins
      second += token == 3 ? 1 : 0;
    }
    CHECK(second > 20);  // 0.175 / 0.699 of the draws: ~50
  }
  SUBCASE("the same seed draws the same tokens") {
    fthost::model::Sampler a({0.8, 0, 0.95}, 9);
    fthost::model::Sampler b({0.8, 0, 0.95}, 9);
    for (int i = 0; i < 100; ++i) CHECK(a.next(logits) == b.next(logits));
  }
}
