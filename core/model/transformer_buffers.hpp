#pragma once
// Transformer's activation and gradient buffers, shared by transformer.cpp (allocation, the
// model-level passes) and transformer_layers.cpp (one block's passes). Private to the model layer.

#include <vector>

#include "model/transformer.hpp"

namespace fthost::model {

using backend::Tensor;

// What one block's forward keeps for its backward. N = B*T rows.
struct Transformer::LayerActivations {
  Tensor norm1_out, norm1_mean, norm1_rstd;  // [N,C], [N], [N] (mean: LayerNorm only)
  Tensor qkv;                                // [N,3C] GPT-2's fused projection
  Tensor q, k, v;                            // [N,H*D], [N,KV*D], [N,KV*D]; q and k after rotation
  Tensor attention, lse;                     // [N,H*D], [B,H,T]
  Tensor residual_mid;                       // [N,C]: block input + attention output
  Tensor norm2_out, norm2_mean, norm2_rstd;
  Tensor gate_or_fc, up;                     // [N,F]: Llama gate and up projections; GPT-2 c_fc output
  Tensor activated;                          // [N,F]: swiglu(gate, up) or gelu(fc)
};

struct Transformer::Buffers {
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  std::vector<Tensor> residual;            // L+1 of [N,C]: residual[l] is block l's input
  std::vector<LayerActivations> layers;    // saved per layer; recomputed layers use `scratch`
  LayerActivations scratch;
  Tensor positions_embedded;               // [N,C] GPT-2
  Tensor final_out, final_mean, final_rstd;
  Tensor d_residual, d_norm_out, d_q, d_k, d_v, d_attention, d_qkv, d_gate_or_fc, d_up, d_activated, d_final;
  std::int64_t chunk_rows = 0;
  Tensor logits_chunk, losses_chunk;       // [chunk,V], [chunk]
};

}  // namespace fthost::model
