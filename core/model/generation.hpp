#pragma once
// Text generation: a key/value cache so each new token costs one token's forward pass, and the
// sampling rules of Hugging Face's generate() (temperature, then top-k, then top-p, then a draw
// from the renormalised distribution; temperature 0 is greedy).

#include <cstdint>
#include <span>
#include <vector>

#include "model/transformer.hpp"

namespace fthost::model {

class Generator {
 public:
  // Up to `capacity` positions (prompt + generated), at most the model's max_position_embeddings
  // for GPT-2's learned positions (std::invalid_argument otherwise).
  Generator(Transformer& model, std::int64_t capacity);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Runs `tokens` (the prompt, then each chosen token) through the model after those fed before;
  // returns the logits [V] that predict the token after the last one. std::length_error when the
  // cache would overflow.
  std::vector<float> feed(std::span<const std::int32_t> tokens);

  std::int64_t length() const { return cache_.length; }
  std::int64_t capacity() const { return cache_.capacity; }

 private:
  Transformer& model_;
  KvCache cache_;
};

struct SamplingSettings {
  double temperature = 0.0;  // 0: greedy (argmax)
  std::int64_t top_k = 0;    // 0: off
  double top_p = 1.0;        // 1: off
};

class Sampler {
 public:
  Sampler(SamplingSettings settings, std::uint64_t seed) : settings_(settings), seed_(seed) {}
  // The next token for `logits` [V]; draws are counter-based (seed, draw index): reproducible.
  std::int32_t next(std::span<const float> logits);

 private:
  SamplingSettings settings_;
  std::uint64_t seed_;
  std::uint64_t draws_ = 0;
};

}  // namespace fthost::model
