#include "model/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "model/rope.hpp"
#include "model/transformer_buffers.hpp"

namespace fthost::model {

using backend::DType;
using backend::Tensor;

namespace {

std::set<std::string, std::less<>> quantized_weight_names(const QuantizedSites* quantized) {
  std::set<std::string, std::less<>> names;
  if (quantized != nullptr) {
    for (const QuantizedSites::Site& site : quantized->sites()) names.insert(site.site.name + ".weight");
  }
  return names;
}

}  // namespace

Transformer::Transformer(ModelConfig config, backend::Backend& backend, std::unique_ptr<QuantizedSites> quantized)
    : config_(std::move(config)),
      backend_(backend),
      quantized_(std::move(quantized)),
      layout_(config_, quantized_weight_names(quantized_.get())),
      parameters_(layout_, backend_) {
  if (config_.architecture == Architecture::llama) {
    std::vector<float> frequencies = rotary_inverse_frequencies(config_);
    inv_freq_ = backend_.empty(DType::f32, {static_cast<std::int64_t>(frequencies.size())});
    backend_.upload(inv_freq_, frequencies.data());
  }
}

Transformer::~Transformer() = default;

std::string Transformer::layer_prefix(std::int64_t layer) const {
  return (config_.architecture == Architecture::llama ? "model.layers." : "transformer.h.") + std::to_string(layer) + ".";
}

const std::string& Transformer::head_weight_name() const {
  static const std::string untied = "lm_head.weight";
  static const std::string llama_tied = "model.embed_tokens.weight";
  static const std::string gpt2_tied = "transformer.wte.weight";
  if (!config_.tie_word_embeddings) return untied;
  return config_.architecture == Architecture::llama ? llama_tied : gpt2_tied;
}

Tensor Transformer::weight(const std::string& name) const {
  if (adapters_) {
    // A module the adapter trains whole (modules_to_save) is read from its trained copy, in f32.
    if (Tensor copy = adapters_->module_copy(name); copy.defined()) return copy;
  }
  return compute_parameters_ ? compute_parameters_->get(name) : parameters_.get(name);
}

Tensor Transformer::optional_weight(const std::string& name) const {
  return layout_.find(name) != nullptr ? weight(name) : Tensor{};
}

void Transformer::set_compute_dtype(DType dtype) {
  if (dtype != DType::f32 && dtype != DType::bf16 && dtype != DType::f16) {
    throw std::invalid_argument("compute dtype " + std::string(sdk::to_string(dtype)) + " is not f32, bf16 or f16");
  }
  compute_dtype_ = dtype;
  // bf16 GEMMs run on the matrix units: their inputs are bf16 values already, so this changes the
  // summation order only. f16 inputs multiply exactly in f32: the f32 GEMM is the f16 GEMM.
  backend_.set_matmul_precision(dtype == DType::bf16 ? DType::bf16 : DType::f32);
  compute_parameters_.reset();
  if (dtype != DType::f32) {
    compute_parameters_ = std::make_unique<ParameterSet>(layout_, backend_);
    refresh_compute_weights();
  }
}

void Transformer::refresh_compute_weights() {
  if (!compute_parameters_) return;
  backend_.copy(compute_parameters_->buffer(), parameters_.buffer());
  backend_.round_to(compute_parameters_->buffer(), compute_dtype_);
}

Tensor Transformer::gradient(const std::string& name) const {
  if (adapters_ && gradients_.adapters != nullptr) {
    if (Tensor copy = adapters_->module_copy_gradient(name, *gradients_.adapters); copy.defined()) return copy;
  }
  if (gradients_.model == nullptr || layout_.find(name) == nullptr) return Tensor{};
  return gradients_.model->get(name);
}

std::vector<sdk::LinearSite> Transformer::linear_sites() const { return model::linear_sites(config_); }

void Transformer::attach_adapters(std::unique_ptr<SiteAdapters> adapters) {
  if (adapters && config_.tie_word_embeddings) {
    for (const SiteAdapters::Site& site : adapters->sites()) {
      if (site.site.is_output_head) {
        // The head is the embedding table here: an adapter on it could not be merged into a
        // plain model without changing the input embedding too.
        throw std::invalid_argument("adapter plugin '" + adapters->plugin() + "' targets " + site.site.name +
                                    ", but this model ties its output head to the input embedding "
                                    "(tie_word_embeddings): leave lm_head out of target_modules");
      }
    }
  }
  adapters_ = std::move(adapters);
}

const std::string& Transformer::head_site_name() const {
  static const std::string name = "lm_head";
  return name;
}

void Transformer::project(const std::string& site, const Tensor& out, const Tensor& inp) {
  if (quantized_ && quantized_->quantizes(site)) {
    quantized_->forward(site, inp, out);
    if (Tensor bias = optional_weight(site + ".bias"); bias.defined()) backend_.add_bias(out, bias);
  } else {
    backend_.linear_forward(out, inp, weight(site + ".weight"), optional_weight(site + ".bias"));
  }
  if (adapters_) adapters_->forward(site, inp, out);
  store(out);
}

void Transformer::project_backward(const std::string& site, const Tensor& dinp, const Tensor& dout, const Tensor& inp) {
  if (quantized_ && quantized_->quantizes(site)) {
    // The quantized weight and its bias are frozen: only the input gradient flows.
    if (dinp.defined()) quantized_->backward(site, dout, dinp);
  } else {
    backend_.linear_backward(dinp, gradient(site + ".weight"), gradient(site + ".bias"), dout, inp,
                             weight(site + ".weight"));
  }
  if (adapters_ && gradients_.adapters != nullptr) adapters_->backward(site, inp, dout, dinp, *gradients_.adapters);
}

void Transformer::set_loss_chunk_rows(std::int64_t rows) {
  loss_chunk_rows_ = rows;
  buffers_.reset();
}

bool Transformer::recomputed(std::int64_t layer) const {
  return checkpointing_.enabled && layer % std::max<std::int64_t>(1, checkpointing_.every_n_layers) == 0;
}

Transformer::LayerActivations& Transformer::activations_for(std::int64_t layer) {
  return recomputed(layer) ? buffers_->scratch : buffers_->layers[static_cast<std::size_t>(layer)];
}

void Transformer::ensure_buffers(const Batch& batch) {
  if (buffers_ && buffers_->batch_size == batch.batch_size && buffers_->seq_len == batch.seq_len) {
    bool layout_matches = true;
    for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
      if (buffers_->layers[static_cast<std::size_t>(layer)].norm1_out.defined() == recomputed(layer)) {
        layout_matches = false;
      }
    }
    if (layout_matches) return;
  }
  buffers_.reset();  // return the old buffers before allocating new ones: peak memory stays honest
  auto buffers = std::make_unique<Buffers>();
  const std::int64_t B = batch.batch_size;
  const std::int64_t T = batch.seq_len;
  const std::int64_t N = B * T;
  const std::int64_t C = config_.hidden_size;
  const std::int64_t F = config_.intermediate_size;
  const bool gpt2 = config_.architecture == Architecture::gpt2;
  auto f32 = [&](backend::Shape shape) { return backend_.empty(DType::f32, std::move(shape)); };

  buffers->batch_size = B;
  buffers->seq_len = T;
  for (std::int64_t i = 0; i <= config_.num_layers; ++i) buffers->residual.push_back(f32({N, C}));
  auto allocate = [&](LayerActivations& saved) {
    saved.norm1_out = f32({N, C});
    saved.norm1_rstd = f32({N});
    if (gpt2) {
      saved.norm1_mean = f32({N});
      saved.qkv = f32({N, 3 * C});
    }
    saved.q = f32({N, config_.q_size()});
    saved.k = f32({N, config_.kv_size()});
    saved.v = f32({N, config_.kv_size()});
    saved.attention = f32({N, config_.q_size()});
    saved.lse = f32({B, config_.num_heads, T});
    saved.residual_mid = f32({N, C});
    saved.norm2_out = f32({N, C});
    saved.norm2_rstd = f32({N});
    if (gpt2) saved.norm2_mean = f32({N});
    saved.gate_or_fc = f32({N, F});
    if (!gpt2) saved.up = f32({N, F});
    saved.activated = f32({N, F});
  };
  buffers->layers.resize(static_cast<std::size_t>(config_.num_layers));
  bool any_recomputed = false;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    if (recomputed(layer)) {
      any_recomputed = true;
    } else {
      allocate(buffers->layers[static_cast<std::size_t>(layer)]);
    }
  }
  if (any_recomputed) allocate(buffers->scratch);
  if (gpt2) buffers->positions_embedded = f32({N, C});
  buffers->final_out = f32({N, C});
  buffers->final_rstd = f32({N});
  if (gpt2) buffers->final_mean = f32({N});

  buffers->d_residual = f32({N, C});
  buffers->d_norm_out = f32({N, C});
  buffers->d_q = f32({N, config_.q_size()});
  buffers->d_k = f32({N, config_.kv_size()});
  buffers->d_v = f32({N, config_.kv_size()});
  buffers->d_attention = f32({N, config_.q_size()});
  if (gpt2) buffers->d_qkv = f32({N, 3 * C});
  buffers->d_gate_or_fc = f32({N, F});
  if (!gpt2) buffers->d_up = f32({N, F});
  buffers->d_activated = f32({N, F});
  buffers->d_final = f32({N, C});

  // Logits are computed for at most ~4M elements (16 MB) of rows at a time.
  const std::int64_t default_chunk = (std::int64_t{1} << 22) / config_.vocab_size;
  buffers->chunk_rows = std::clamp<std::int64_t>(loss_chunk_rows_ > 0 ? loss_chunk_rows_ : default_chunk, 1, N);
  buffers->logits_chunk = f32({buffers->chunk_rows, config_.vocab_size});
  buffers->losses_chunk = f32({buffers->chunk_rows});
  buffers_ = std::move(buffers);
}

void Transformer::forward_embeddings(const Batch& batch) {
  const std::int64_t N = batch.rows();
  Tensor ids = batch.input_ids.reshape({N});
  if (config_.architecture == Architecture::llama) {
    backend_.embedding_forward(buffers_->residual[0], ids, weight("model.embed_tokens.weight"));
    return;  // rows of a 16-bit weight copy: already 16-bit values
  }
  backend_.embedding_forward(buffers_->residual[0], ids, weight("transformer.wte.weight"));
  backend_.embedding_forward(buffers_->positions_embedded, batch.positions.reshape({N}), weight("transformer.wpe.weight"));
  backend_.add_inplace(buffers_->residual[0], buffers_->positions_embedded);
  store(buffers_->residual[0]);
}

void Transformer::backward_embeddings(const Batch& batch) {
  const std::int64_t N = batch.rows();
  const std::string& table = config_.architecture == Architecture::llama ? "model.embed_tokens.weight"
                                                                         : "transformer.wte.weight";
  backend_.embedding_backward(gradient(table), batch.input_ids.reshape({N}), buffers_->d_residual);
  if (config_.architecture == Architecture::gpt2) {
    backend_.embedding_backward(gradient("transformer.wpe.weight"), batch.positions.reshape({N}),
                                buffers_->d_residual);
  }
}

void Transformer::forward_final_norm() {
  Tensor last = buffers_->residual.back();
  auto eps = static_cast<float>(config_.norm_eps);
  if (config_.architecture == Architecture::llama) {
    backend_.rmsnorm_forward(buffers_->final_out, buffers_->final_rstd, last, weight("model.norm.weight"), eps);
  } else {
    backend_.layernorm_forward(buffers_->final_out, buffers_->final_mean, buffers_->final_rstd, last,
                               weight("transformer.ln_f.weight"), weight("transformer.ln_f.bias"), eps);
  }
  store(buffers_->final_out);
}

void Transformer::backward_final_norm() {
  Tensor last = buffers_->residual.back();
  backend_.fill(buffers_->d_residual, 0.0f);
  if (config_.architecture == Architecture::llama) {
    backend_.rmsnorm_backward(buffers_->d_residual, gradient("model.norm.weight"), buffers_->d_final, last,
                              weight("model.norm.weight"), buffers_->final_rstd);
  } else {
    backend_.layernorm_backward(buffers_->d_residual, gradient("transformer.ln_f.weight"),
                                gradient("transformer.ln_f.bias"), buffers_->d_final, last,
                                weight("transformer.ln_f.weight"), buffers_->final_mean, buffers_->final_rstd);
  }
  store(buffers_->d_residual);
}

double Transformer::head_loss(const Batch& batch, bool with_gradients, float gradient_scale) {
  const std::int64_t N = batch.rows();
  Tensor targets = batch.targets.reshape({N});
  Tensor head = weight(head_weight_name());
  Tensor d_head = with_gradients ? gradient(head_weight_name()) : Tensor{};
  if (with_gradients) backend_.fill(buffers_->d_final, 0.0f);
  std::vector<float> losses(static_cast<std::size_t>(buffers_->chunk_rows));
  double loss_sum = 0.0;
  for (std::int64_t first = 0; first < N; first += buffers_->chunk_rows) {
    const std::int64_t count = std::min(buffers_->chunk_rows, N - first);
    Tensor hidden = buffers_->final_out.rows(first, count);
    Tensor logits = buffers_->logits_chunk.rows(0, count);
    Tensor chunk_losses = buffers_->losses_chunk.rows(0, count);
    backend_.linear_forward(logits, hidden, head, Tensor{});
    if (adapters_) adapters_->forward(head_site_name(), hidden, logits);
    store(logits);  // 16-bit logits; the loss itself is computed in f32 (as transformers upcasts them)
    backend_.cross_entropy_rows(chunk_losses, logits, targets.rows(first, count),
                                with_gradients ? gradient_scale : 0.0f);
    backend_.download(losses.data(), chunk_losses);
    for (std::int64_t i = 0; i < count; ++i) loss_sum += static_cast<double>(losses[static_cast<std::size_t>(i)]);
    if (with_gradients) {
      // `logits` now holds d(loss)/d(logits) for these rows.
      store(logits);
      backend_.linear_backward(buffers_->d_final.rows(first, count), d_head, Tensor{}, logits, hidden, head);
      // An adapter on the head works chunk by chunk too: its activations hold this chunk's rows.
      if (adapters_ && gradients_.adapters != nullptr) {
        adapters_->backward(head_site_name(), hidden, logits, buffers_->d_final.rows(first, count), *gradients_.adapters);
      }
    }
  }
  return loss_sum;
}

double Transformer::forward_backward(const Batch& batch, const Gradients& gradients, float gradient_scale) {
  if (batch.seq_len > config_.max_position_embeddings && config_.architecture == Architecture::gpt2) {
    throw std::invalid_argument("sequence length " + std::to_string(batch.seq_len) + " exceeds n_positions " +
                                std::to_string(config_.max_position_embeddings));
  }
  if (gradients.adapters != nullptr && !adapters_) throw std::logic_error("adapter gradients without adapters");
  if (kv_cache_ != nullptr) throw std::logic_error("forward_backward while a generation's key/value cache is set");
  ensure_buffers(batch);
  gradients_ = gradients;
  // A pass that forms gradients trains (adapter dropout on); loss-only passes evaluate.
  if (adapters_) adapters_->begin_pass(gradients.any(), pass_seed_);
  forward_embeddings(batch);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) forward_layer(layer, batch, activations_for(layer));
  forward_final_norm();
  double loss = head_loss(batch, gradients.any(), gradient_scale);
  if (!gradients.any()) return loss;
  store(buffers_->d_final);

  backward_final_norm();
  for (std::int64_t layer = config_.num_layers - 1; layer >= 0; --layer) {
    LayerActivations& saved = activations_for(layer);
    if (recomputed(layer)) forward_layer(layer, batch, saved);  // rewrites residual[layer+1] identically
    backward_layer(layer, batch, saved);
  }
  backward_embeddings(batch);
  gradients_ = Gradients{};
  return loss;
}

KvCache Transformer::make_kv_cache(std::int64_t capacity) {
  KvCache cache;
  cache.capacity = capacity;
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
    cache.keys.push_back(backend_.empty(DType::f32, {capacity, config_.kv_size()}));
    cache.values.push_back(backend_.empty(DType::f32, {capacity, config_.kv_size()}));
  }
  return cache;
}

Tensor Transformer::logits(const Batch& batch) {
  if (kv_cache_ != nullptr && batch.batch_size != 1) throw std::logic_error("decoding with a cache takes one row");
  ensure_buffers(batch);
  gradients_ = Gradients{};
  if (adapters_) adapters_->begin_pass(false, 0);
  forward_embeddings(batch);
  for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) forward_layer(layer, batch, activations_for(layer));
  forward_final_norm();
  Tensor out = backend_.empty(DType::f32, {batch.rows(), config_.vocab_size});
  backend_.linear_forward(out, buffers_->final_out, weight(head_weight_name()), Tensor{});
  if (adapters_) adapters_->forward(head_site_name(), buffers_->final_out, out);
  store(out);
  return out;
}

}  // namespace fthost::model
