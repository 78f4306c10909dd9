#include "model/generation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "backend/counter_random.hpp"

namespace fthost::model {

Generator::Generator(Transformer& model, std::int64_t capacity) : model_(model) {
  const ModelConfig& config = model.config();
  if (capacity < 1) throw std::invalid_argument("a generation needs room for at least one position");
  if (config.architecture == Architecture::gpt2 && capacity > config.max_position_embeddings) {
    throw std::invalid_argument("GPT-2 has learned positions for " + std::to_string(config.max_position_embeddings) +
                                " tokens (n_positions); prompt + new tokens ask for " + std::to_string(capacity));
  }
  cache_ = model.make_kv_cache(capacity);
  model_.set_kv_cache(&cache_);
}

Generator::~Generator() { model_.set_kv_cache(nullptr); }

std::vector<float> Generator::feed(std::span<const std::int32_t> tokens) {
  if (tokens.empty()) throw std::invalid_argument("feed() needs at least one token");
  const auto count = static_cast<std::int64_t>(tokens.size());
  if (cache_.length + count > cache_.capacity) {
    throw std::length_error("the generation reached its limit of " + std::to_string(cache_.capacity) + " positions");
  }
  HostBatch host;
  std::vector<std::vector<std::int32_t>> documents = {std::vector<std::int32_t>(tokens.begin(), tokens.end())};
  host.seq_len = count;
  host.add_row(documents);
  // Positions continue the cached sequence (RoPE angles, GPT-2's position embeddings).
  for (std::int64_t t = 0; t < count; ++t) host.positions[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(cache_.length + t);
  backend::Backend& backend = model_.backend();
  backend::Tensor logits = model_.logits(upload_batch(backend, host));
  cache_.length += count;
  const std::int64_t vocabulary = logits.dim(1);
  std::vector<float> last(static_cast<std::size_t>(vocabulary));
  backend.download(last.data(), logits.rows(count - 1, 1));
  return last;
}

std::int32_t Sampler::next(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("no logits to sample from");
  auto argmax = [&] {
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  if (settings_.temperature <= 0.0) return argmax();

  // Candidates in descending logit order (ties by id, so the order is deterministic).
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  std::size_t kept = order.size();
  if (settings_.top_k > 0 && static_cast<std::size_t>(settings_.top_k) < kept) {
    // HF's TopKLogitsWarper keeps every logit >= the k-th largest: ties at the boundary stay.
    const float threshold = logits[static_cast<std::size_t>(order[static_cast<std::size_t>(settings_.top_k) - 1])];
    kept = static_cast<std::size_t>(settings_.top_k);
    while (kept < order.size() && logits[static_cast<std::size_t>(order[kept])] >= threshold) ++kept;
  }
  const double best = static_cast<double>(logits[static_cast<std::size_t>(order[0])]);
  std::vector<double> probabilities(kept);
  double total = 0.0;
  for (std::size_t i = 0; i < kept; ++i) {
    probabilities[i] = std::exp((static_cast<double>(logits[static_cast<std::size_t>(order[i])]) - best) /
                                settings_.temperature);
    total += probabilities[i];
  }
  if (settings_.top_p < 1.0) {
    // HF's TopPLogitsWarper: the smallest set of most likely tokens whose probability reaches
    // top_p (always at least one).
    double cumulative = 0.0;
    std::size_t nucleus = 0;
    while (nucleus < kept) {
      cumulative += probabilities[nucleus] / total;
      ++nucleus;
      if (cumulative >= settings_.top_p) break;
    }
    kept = nucleus;
    total = 0.0;
    for (std::size_t i = 0; i < kept; ++i) total += probabilities[i];
  }
  const double draw = static_cast<double>(backend::counter_uniform(seed_, draws_++)) * total;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < kept; ++i) {
    cumulative += probabilities[i];
    if (draw < cumulative) return order[i];
  }
  return order[kept - 1];
}

}  // namespace fthost::model
