#pragma once
// A decoder-only transformer (Llama family or GPT-2) on one backend: explicit forward and backward
// per block, in the style of llm.c. Activations live in buffers sized for the batch and reused
// across steps; the loss is computed in row chunks so full logits for the batch never exist.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "fthost/sdk/types.hpp"
#include "model/batch.hpp"
#include "model/linear_sites.hpp"
#include "model/model_config.hpp"
#include "model/parameters.hpp"

namespace fthost::model {

struct ActivationCheckpointing {
  bool enabled = false;
  std::int64_t every_n_layers = 1;  // layers l with l % every_n_layers == 0 are recomputed in backward
};

class Transformer {
 public:
  Transformer(ModelConfig config, backend::Backend& backend);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  ParameterSet& parameters() { return parameters_; }
  const ParameterSet& parameters() const { return parameters_; }
  backend::Backend& backend() const { return backend_; }

  // Every projection, named as Hugging Face names the module; strategies attach to these.
  std::vector<sdk::LinearSite> linear_sites() const;

  void set_activation_checkpointing(ActivationCheckpointing checkpointing) { checkpointing_ = checkpointing; }
  // Rows of logits formed at a time by the loss; 0 picks ~4M logits per chunk (the default).
  void set_loss_chunk_rows(std::int64_t rows);

  // Forward and loss. With `gradients`, also backward: gradients += d(loss_sum * gradient_scale)/dparams
  // (gradient_scale is 1 / the number of predictions the optimizer step averages over).
  // Returns the sum over the batch's predictions of -log p(target), in double.
  double forward_backward(const Batch& batch, ParameterSet* gradients, float gradient_scale);
  double loss_sum(const Batch& batch) { return forward_backward(batch, nullptr, 0.0f); }

  // Logits for every row, [B*T, V] (tests and generation; training never builds this).
  backend::Tensor logits(const Batch& batch);

 private:
  struct LayerActivations;
  struct Buffers;

  void ensure_buffers(const Batch& batch);
  void forward_embeddings(const Batch& batch);
  void forward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved);
  void backward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved, ParameterSet& gradients);
  void forward_final_norm();
  void backward_final_norm(ParameterSet& gradients);
  void backward_embeddings(const Batch& batch, ParameterSet& gradients);
  double head_loss(const Batch& batch, ParameterSet* gradients, float gradient_scale);
  LayerActivations& activations_for(std::int64_t layer);
  bool recomputed(std::int64_t layer) const;
  backend::Tensor weight(const std::string& name) const;
  backend::Tensor optional_weight(const std::string& name) const;  // undefined when the model has none
  backend::Tensor gradient(ParameterSet& gradients, const std::string& name) const;
  std::string layer_prefix(std::int64_t layer) const;
  const std::string& head_weight_name() const;

  ModelConfig config_;
  backend::Backend& backend_;
  ParameterLayout layout_;
  ParameterSet parameters_;
  backend::Tensor inv_freq_;  // [D/2], Llama family only
  ActivationCheckpointing checkpointing_;
  std::int64_t loss_chunk_rows_ = 0;
  std::unique_ptr<Buffers> buffers_;
};

}  // namespace fthost::model
