// One transformer block's forward and backward, for the Llama family and for GPT-2.
// Shapes: N = B*T rows, C hidden, H query heads, KV key/value heads, D head size, F MLP hidden.

#include <cmath>
#include <stdexcept>

#include "model/transformer.hpp"
#include "model/transformer_buffers.hpp"

namespace fthost::model {

using backend::RotaryDirection;
using backend::Tensor;

void Transformer::forward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved) {
  const std::string prefix = layer_prefix(layer);
  const Tensor& input = buffers_->residual[static_cast<std::size_t>(layer)];
  const Tensor& output = buffers_->residual[static_cast<std::size_t>(layer) + 1];
  const std::int64_t B = batch.batch_size;
  const std::int64_t T = batch.seq_len;
  const std::int64_t N = B * T;
  const std::int64_t D = config_.head_dim;
  const auto eps = static_cast<float>(config_.norm_eps);
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));

  if (config_.architecture == Architecture::llama) {
    // attention: x -> rmsnorm -> q, k, v -> rotate q, k -> attend -> o_proj -> + x
    backend_.rmsnorm_forward(saved.norm1_out, saved.norm1_rstd, input, weight(prefix + "input_layernorm.weight"), eps);
    store(saved.norm1_out);
    project(prefix + "self_attn.q_proj", saved.q, saved.norm1_out);
    project(prefix + "self_attn.k_proj", saved.k, saved.norm1_out);
    project(prefix + "self_attn.v_proj", saved.v, saved.norm1_out);
    Tensor positions = batch.positions.reshape({N});
    backend_.rotary_inplace(saved.q.reshape({N, config_.num_heads, D}), positions, inv_freq_, RotaryDirection::forward);
    backend_.rotary_inplace(saved.k.reshape({N, config_.num_kv_heads, D}), positions, inv_freq_,
                            RotaryDirection::forward);
    store(saved.q);
    store(saved.k);
    attend(layer, batch, saved, scale);
    project(prefix + "self_attn.o_proj", saved.residual_mid, saved.attention);
    backend_.add_inplace(saved.residual_mid, input);
  store(saved.residual_mid);
    store(saved.residual_mid);
    // MLP: x -> rmsnorm -> silu(gate) * up -> down_proj -> + x
    backend_.rmsnorm_forward(saved.norm2_out, saved.norm2_rstd, saved.residual_mid,
                             weight(prefix + "post_attention_layernorm.weight"), eps);
    store(saved.norm2_out);
    project(prefix + "mlp.gate_proj", saved.gate_or_fc, saved.norm2_out);
    project(prefix + "mlp.up_proj", saved.up, saved.norm2_out);
    backend_.swiglu_forward(saved.activated, saved.gate_or_fc, saved.up);
    store(saved.activated);
    project(prefix + "mlp.down_proj", output, saved.activated);
    backend_.add_inplace(output, saved.residual_mid);
    store(output);
    return;
  }

  // GPT-2 attention: x -> layernorm -> c_attn [q|k|v] -> attend -> c_proj -> + x
  const std::int64_t C = config_.hidden_size;
  backend_.layernorm_forward(saved.norm1_out, saved.norm1_mean, saved.norm1_rstd, input, weight(prefix + "ln_1.weight"),
                             weight(prefix + "ln_1.bias"), eps);
  store(saved.norm1_out);
  project(prefix + "attn.c_attn", saved.qkv, saved.norm1_out);
  backend_.copy_columns(saved.q, saved.qkv, 0);
  backend_.copy_columns(saved.k, saved.qkv, C);
  backend_.copy_columns(saved.v, saved.qkv, 2 * C);
  attend(layer, batch, saved, scale);
  project(prefix + "attn.c_proj", saved.residual_mid, saved.attention);
  backend_.add_inplace(saved.residual_mid, input);
  store(saved.residual_mid);
  // MLP: x -> layernorm -> c_fc -> gelu -> c_proj -> + x
  backend_.layernorm_forward(saved.norm2_out, saved.norm2_mean, saved.norm2_rstd, saved.residual_mid,
                             weight(prefix + "ln_2.weight"), weight(prefix + "ln_2.bias"), eps);
  store(saved.norm2_out);
  project(prefix + "mlp.c_fc", saved.gate_or_fc, saved.norm2_out);
  backend_.gelu_forward(saved.activated, saved.gate_or_fc);
  store(saved.activated);
  project(prefix + "mlp.c_proj", output, saved.activated);
  backend_.add_inplace(output, saved.residual_mid);
  store(output);
}

void Transformer::attend(std::int64_t layer, const Batch& batch, LayerActivations& saved, float scale) {
  if (kv_cache_ != nullptr) {
    attend_with_cache(layer, saved, scale);
  } else {
    const std::int64_t B = batch.batch_size, T = batch.seq_len, D = config_.head_dim;
    backend_.attention_forward(saved.attention.reshape({B, T, config_.num_heads, D}), saved.lse,
                               saved.q.reshape({B, T, config_.num_heads, D}), saved.k.reshape({B, T, config_.num_kv_heads, D}),
                               saved.v.reshape({B, T, config_.num_kv_heads, D}), batch.doc_start, scale);
  }
  store(saved.attention);
}

void Transformer::attend_with_cache(std::int64_t layer, LayerActivations& saved, float scale) {
  KvCache& cache = *kv_cache_;
  const std::int64_t T = saved.q.dim(0);  // one row: N = T
  const std::int64_t D = config_.head_dim;
  const Tensor& keys = cache.keys[static_cast<std::size_t>(layer)];
  const Tensor& values = cache.values[static_cast<std::size_t>(layer)];
  if (cache.length + T > cache.capacity) {
    throw std::length_error("generation exceeds its key/value cache of " + std::to_string(cache.capacity) + " positions");
  }
  backend_.copy(keys.rows(cache.length, T), saved.k);
  backend_.copy(values.rows(cache.length, T), saved.v);
  backend_.attention_cached(saved.attention.reshape({T, config_.num_heads, D}), saved.q.reshape({T, config_.num_heads, D}),
                            keys.reshape({cache.capacity, config_.num_kv_heads, D}),
                            values.reshape({cache.capacity, config_.num_kv_heads, D}), cache.length, scale);
}

// On entry buffers_->d_residual holds d(loss)/d(block output); on exit d(loss)/d(block input).
// The residual connections make the block's output gradient flow unchanged into both the
// residual_mid and the input gradients, so d_residual is updated in place.
void Transformer::backward_layer(std::int64_t layer, const Batch& batch, LayerActivations& saved) {
  const std::string prefix = layer_prefix(layer);
  const Tensor& input = buffers_->residual[static_cast<std::size_t>(layer)];
  Buffers& b = *buffers_;
  const std::int64_t B = batch.batch_size;
  const std::int64_t T = batch.seq_len;
  const std::int64_t N = B * T;
  const std::int64_t D = config_.head_dim;
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  auto grad = [&](const std::string& name) { return gradient(prefix + name); };
  auto zero = [&](const Tensor& tensor) { backend_.fill(tensor, 0.0f); };
  Tensor q_heads = saved.q.reshape({B, T, config_.num_heads, D});
  Tensor k_heads = saved.k.reshape({B, T, config_.num_kv_heads, D});
  Tensor v_heads = saved.v.reshape({B, T, config_.num_kv_heads, D});
  Tensor attention_heads = saved.attention.reshape({B, T, config_.num_heads, D});
  Tensor d_attention_heads = b.d_attention.reshape({B, T, config_.num_heads, D});

  if (config_.architecture == Architecture::llama) {
    // MLP
    zero(b.d_activated);
    project_backward(prefix + "mlp.down_proj", b.d_activated, b.d_residual, saved.activated);
    store(b.d_activated);
    zero(b.d_gate_or_fc);
    zero(b.d_up);
    backend_.swiglu_backward(b.d_gate_or_fc, b.d_up, b.d_activated, saved.gate_or_fc, saved.up);
    store(b.d_gate_or_fc);
    store(b.d_up);
    zero(b.d_norm_out);
    project_backward(prefix + "mlp.gate_proj", b.d_norm_out, b.d_gate_or_fc, saved.norm2_out);
    project_backward(prefix + "mlp.up_proj", b.d_norm_out, b.d_up, saved.norm2_out);
    store(b.d_norm_out);
    backend_.rmsnorm_backward(b.d_residual, grad("post_attention_layernorm.weight"), b.d_norm_out, saved.residual_mid,
                              weight(prefix + "post_attention_layernorm.weight"), saved.norm2_rstd);
    store(b.d_residual);
    // attention
    zero(b.d_attention);
    project_backward(prefix + "self_attn.o_proj", b.d_attention, b.d_residual, saved.attention);
    store(b.d_attention);
    zero(b.d_q);
    zero(b.d_k);
    zero(b.d_v);
    backend_.attention_backward(b.d_q.reshape({B, T, config_.num_heads, D}),
                                b.d_k.reshape({B, T, config_.num_kv_heads, D}),
                                b.d_v.reshape({B, T, config_.num_kv_heads, D}), d_attention_heads, q_heads, k_heads,
                                v_heads, attention_heads, saved.lse, batch.doc_start, scale);
    Tensor positions = batch.positions.reshape({N});
    backend_.rotary_inplace(b.d_q.reshape({N, config_.num_heads, D}), positions, inv_freq_, RotaryDirection::inverse);
    backend_.rotary_inplace(b.d_k.reshape({N, config_.num_kv_heads, D}), positions, inv_freq_,
                            RotaryDirection::inverse);
    store(b.d_q);
    store(b.d_k);
    store(b.d_v);
    zero(b.d_norm_out);
    project_backward(prefix + "self_attn.q_proj", b.d_norm_out, b.d_q, saved.norm1_out);
    project_backward(prefix + "self_attn.k_proj", b.d_norm_out, b.d_k, saved.norm1_out);
    project_backward(prefix + "self_attn.v_proj", b.d_norm_out, b.d_v, saved.norm1_out);
    store(b.d_norm_out);
    backend_.rmsnorm_backward(b.d_residual, grad("input_layernorm.weight"), b.d_norm_out, input,
                              weight(prefix + "input_layernorm.weight"), saved.norm1_rstd);
    store(b.d_residual);
    return;
  }

  const std::int64_t C = config_.hidden_size;
  // MLP
  zero(b.d_activated);
  project_backward(prefix + "mlp.c_proj", b.d_activated, b.d_residual, saved.activated);
  store(b.d_activated);
  zero(b.d_gate_or_fc);
  backend_.gelu_backward(b.d_gate_or_fc, b.d_activated, saved.gate_or_fc);
  store(b.d_gate_or_fc);
  zero(b.d_norm_out);
  project_backward(prefix + "mlp.c_fc", b.d_norm_out, b.d_gate_or_fc, saved.norm2_out);
  store(b.d_norm_out);
  backend_.layernorm_backward(b.d_residual, grad("ln_2.weight"), grad("ln_2.bias"), b.d_norm_out, saved.residual_mid,
                              weight(prefix + "ln_2.weight"), saved.norm2_mean, saved.norm2_rstd);
  store(b.d_residual);
  // attention
  zero(b.d_attention);
  project_backward(prefix + "attn.c_proj", b.d_attention, b.d_residual, saved.attention);
  store(b.d_attention);
  zero(b.d_q);
  zero(b.d_k);
  zero(b.d_v);
  backend_.attention_backward(b.d_q.reshape({B, T, config_.num_heads, D}), b.d_k.reshape({B, T, config_.num_kv_heads, D}),
                              b.d_v.reshape({B, T, config_.num_kv_heads, D}), d_attention_heads, q_heads, k_heads,
                              v_heads, attention_heads, saved.lse, batch.doc_start, scale);
  zero(b.d_qkv);
  backend_.accumulate_columns(b.d_qkv, b.d_q, 0);
  backend_.accumulate_columns(b.d_qkv, b.d_k, C);
  backend_.accumulate_columns(b.d_qkv, b.d_v, 2 * C);
  store(b.d_qkv);
  zero(b.d_norm_out);
  project_backward(prefix + "attn.c_attn", b.d_norm_out, b.d_qkv, saved.norm1_out);
  store(b.d_norm_out);
  backend_.layernorm_backward(b.d_residual, grad("ln_1.weight"), grad("ln_1.bias"), b.d_norm_out, input,
                              weight(prefix + "ln_1.weight"), saved.norm1_mean, saved.norm1_rstd);
  store(b.d_residual);
}

}  // namespace fthost::model
