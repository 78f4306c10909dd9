#pragma once
// A Hugging Face config.json, as far as fthost builds the model from it. Two architecture
// families: "llama" (also Mistral and Qwen2: RMSNorm, rotary positions, SwiGLU, grouped-query
// attention) and "gpt2" (LayerNorm, learned positions, GELU, fused qkv in Conv1D layout).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "fthost/sdk/error.hpp"

namespace fthost::model {

enum class Architecture { llama, gpt2 };

// rope_scaling of type "llama3" (Llama 3.1): long wavelengths divided by `factor`, a smooth ramp
// between low_freq_factor and high_freq_factor.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture architecture = Architecture::llama;
  std::string model_type;  // as written: llama, mistral, qwen2, gpt2
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;
  bool qkv_bias = false;  // Qwen2; Llama's attention_bias also sets it
  bool o_bias = false;    // Llama's attention_bias
  bool mlp_bias = false;  // Llama's mlp_bias
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;
  std::int64_t bos_token_id = -1;
  std::int64_t eos_token_id = -1;
  // The config.json text this was read from: saving writes it back (dtype updated), so keys
  // fthost does not use (eos lists, sliding_window: null, generation settings) survive.
  std::string source_json;

  std::int64_t q_size() const { return num_heads * head_dim; }
  std::int64_t kv_size() const { return num_kv_heads * head_dim; }
};

// Reads folder/config.json. Refused with one line naming the file and key: a missing file, bad
// JSON, an unknown model_type, a missing or ill-typed key, dimensions that do not divide, and
// what this version does not build (sliding-window attention, rope_scaling other than llama3,
// activations other than silu / gelu_new).
sdk::Result<ModelConfig> load_model_config(const std::filesystem::path& folder);
sdk::Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& display_name);

// config.json text for `config`: its source_json with the dtype set to float32 when it was read
// from a file, else written as transformers writes that model_type (so HF can load it).
// `quantization_config`: JSON text of the object config.json gets for quantized weights; empty
// for dense weights (a quantization_config the source config had is dropped).
std::string model_config_to_json(const ModelConfig& config, const std::string& quantization_config = {});

}  // namespace fthost::model
