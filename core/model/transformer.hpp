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
#include "model/site_adapters.hpp"
#include "model/site_quantization.hpp"

namespace fthost::model {

struct ActivationCheckpointing {
  bool enabled = false;
  std::int64_t every_n_layers = 1;  // layers l with l % every_n_layers == 0 are recomputed in backward
};

// Keys and values of the positions a generation has seen: per layer [capacity, KV*D], keys after
// rotation. While one is set (Transformer::set_kv_cache), forward passes take one row of new
// tokens and attend to the cached ones as well (see model/generation.hpp).
struct KvCache {
  std::vector<backend::Tensor> keys;
  std::vector<backend::Tensor> values;
  std::int64_t length = 0;  // positions filled
  std::int64_t capacity = 0;
};

// Where a backward pass accumulates gradients. A null set is frozen: its gradients are never formed.
struct Gradients {
  ParameterSet* model = nullptr;     // laid out as Transformer::layout()
  ParameterSet* adapters = nullptr;  // laid out as SiteAdapters::layout()
  bool any() const { return model != nullptr || adapters != nullptr; }
};

class Transformer {
 public:
  // With `quantized`, the weights of its sites are not parameters: the plugin's stored tensors
  // replace them, and the base model is frozen (it trains through adapters only).
  Transformer(ModelConfig config, backend::Backend& backend, std::unique_ptr<QuantizedSites> quantized = nullptr);
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

  // Adapters beside the sites they target; the base model is then frozen and only the adapters'
  // parameters train. Throws std::invalid_argument for an adapter on a head tied to the embedding.
  void attach_adapters(std::unique_ptr<SiteAdapters> adapters);
  SiteAdapters* adapters() { return adapters_.get(); }
  QuantizedSites* quantized() { return quantized_.get(); }
  const QuantizedSites* quantized() const { return quantized_.get(); }
  const SiteAdapters* adapters() const { return adapters_.get(); }
  // What an optimizer updates: the adapters' parameters when attached, else the whole model's.
  ParameterSet& trainable_parameters() { return adapters_ ? adapters_->parameters() : parameters_; }
  const ParameterSet& trainable_parameters() const { return adapters_ ? adapters_->parameters() : parameters_; }
  // Gradients laid out as trainable_parameters() go where a backward pass expects them.
  Gradients gradients_for_trainable(ParameterSet& gradients) const {
    return adapters_ ? Gradients{nullptr, &gradients} : Gradients{&gradients, nullptr};
  }

  // Seeds the adapters' train-time randomness (dropout) of the next passes; the trainer sets one
  // per micro-batch, so a resumed run draws the same masks as the uninterrupted one.
  void set_pass_seed(std::uint64_t seed) { pass_seed_ = seed; }

  // 16-bit compute (bf16 or f16; f32 switches it off): the passes read 16-bit copies of the f32
  // master weights and round every activation and activation gradient to the 16-bit type, so the
  // values are exactly those 16-bit storage holds (on the CPU the buffers stay f32; compute
  // widens to f32 as GPU kernels do). Weight gradients accumulate in f32.
  void set_compute_dtype(backend::DType dtype);
  backend::DType compute_dtype() const { return compute_dtype_; }
  // After the master weights changed (an optimizer step): the 16-bit copies follow.
  void refresh_compute_weights();

  void set_activation_checkpointing(ActivationCheckpointing checkpointing) { checkpointing_ = checkpointing; }
  // Rows of logits formed at a time by the loss; 0 picks ~4M logits per chunk (the default).
  void set_loss_chunk_rows(std::int64_t rows);

  // Forward and loss. With `gradients`, also backward: gradients += d(loss_sum * gradient_scale)/dparams
  // (gradient_scale is 1 / the number of predictions the optimizer step averages over).
  // Returns the sum over the batch's predictions of -log p(target), in double.
  double forward_backward(const Batch& batch, const Gradients& gradients, float gradient_scale);
  double forward_backward(const Batch& batch, ParameterSet* model_gradients, float gradient_scale) {
    return forward_backward(batch, Gradients{model_gradients, nullptr}, gradient_scale);
  }
  double loss_sum(const Batch& batch) { return forward_backward(batch, Gradients{}, 0.0f); }

  // Logits for every row, [B*T, V] (tests and generation; training never builds this).
  backend::Tensor logits(const Batch& batch);

  // An empty cache for `capacity` positions; set_kv_cache(&cache) makes logits() decode with it
  // (one row whose positions continue the cache; the caller advances cache.length), nullptr ends it.
  KvCache make_kv_cache(std::int64_t capacity);
  void set_kv_cache(KvCache* cache) { kv_cache_ = cache; }

 private:
  struct LayerActivations;
  struct Buffers;

  void ensure_buffers(const Batch& batch);
  void forward_embeddings(const Batch& batch);
  void forward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved);
  void backward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved);
  void forward_final_norm();
  void backward_final_norm();
  void backward_embeddings(const Batch& batch);
  double head_loss(const Batch& batch, bool with_gradients, float gradient_scale);
  // Causal attention of the block's q, k, v into saved.attention: within documents, or against the
  // generation's key/value cache when one is set.
  void attend(std::int64_t layer, const Batch& batch, LayerActivations& saved, float scale);
  // Appends this pass's keys and values to the cache and attends the new queries to all of them.
  void attend_with_cache(std::int64_t layer, LayerActivations& saved, float scale);
  // out = site(inp): the base projection (weight, optional bias) plus any adapter on the site.
  void project(const std::string& site, const backend::Tensor& out, const backend::Tensor& inp);
  // dinp += dsite/dinp; weight, bias and adapter gradients accumulate where they are trained.
  void project_backward(const std::string& site, const backend::Tensor& dinp, const backend::Tensor& dout,
                        const backend::Tensor& inp);
  LayerActivations& activations_for(std::int64_t layer);
  bool recomputed(std::int64_t layer) const;
  backend::Tensor weight(const std::string& name) const;
  backend::Tensor optional_weight(const std::string& name) const;  // undefined when the model has none
  backend::Tensor gradient(const std::string& name) const;  // undefined when the weight is frozen
  std::string layer_prefix(std::int64_t layer) const;
  const std::string& head_weight_name() const;
  const std::string& head_site_name() const;  // the output head as strategies name it
  // Rounds an activation (or its gradient) to the compute dtype; nothing in f32.
  void store(const backend::Tensor& tensor) const {
    if (compute_dtype_ != backend::DType::f32) backend_.round_to(tensor, compute_dtype_);
  }

  ModelConfig config_;
  backend::Backend& backend_;
  std::unique_ptr<QuantizedSites> quantized_;
  ParameterLayout layout_;
  ParameterSet parameters_;
  backend::Tensor inv_freq_;  // [D/2], Llama family only
  ActivationCheckpointing checkpointing_;
  std::int64_t loss_chunk_rows_ = 0;
  std::unique_ptr<Buffers> buffers_;
  std::unique_ptr<SiteAdapters> adapters_;
  Gradients gradients_;  // of the pass in progress
  std::uint64_t pass_seed_ = 0;
  KvCache* kv_cache_ = nullptr;
  backend::DType compute_dtype_ = backend::DType::f32;
  std::unique_ptr<ParameterSet> compute_parameters_;  // 16-bit copies of the weights (16-bit compute only)
};

}  // namespace fthost::model
