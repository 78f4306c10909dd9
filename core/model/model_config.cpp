#include "model/model_config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/message_text.hpp"

namespace fthost::model {
namespace {

using nlohmann::json;
using sdk::Error;

class ConfigReader {
 public:
  ConfigReader(const json& document, std::string display_name) : document_(document), name_(std::move(display_name)) {}

  std::int64_t integer(const char* key, std::optional<std::int64_t> fallback = std::nullopt) {
    auto found = document_.find(key);
    if (found == document_.end() || found->is_null()) return missing(key, fallback).value_or(0);
    if (!found->is_number_integer()) return wrong_type(key, "an integer"), 0;
    std::int64_t value = found->get<std::int64_t>();
    if (value <= 0) fail(std::string(key) + " must be positive, got " + std::to_string(value));
    return value;
  }

  double number(const char* key, std::optional<double> fallback = std::nullopt) {
    auto found = document_.find(key);
    if (found == document_.end() || found->is_null()) return missing(key, fallback).value_or(0.0);
    if (!found->is_number()) return wrong_type(key, "a number"), 0.0;
    return found->get<double>();
  }

  bool boolean(const char* key, bool fallback) {
    auto found = document_.find(key);
    if (found == document_.end() || found->is_null()) return fallback;
    if (!found->is_boolean()) return wrong_type(key, "true or false"), fallback;
    return found->get<bool>();
  }

  std::string text(const char* key, std::optional<std::string> fallback = std::nullopt) {
    auto found = document_.find(key);
    if (found == document_.end() || found->is_null()) return missing(key, fallback).value_or("");
    if (!found->is_string()) return wrong_type(key, "a string"), "";
    return found->get<std::string>();
  }

  // bos/eos ids: an integer, a list (first used), or absent.
  std::int64_t token_id(const char* key) {
    auto found = document_.find(key);
    if (found == document_.end() || found->is_null()) return -1;
    if (found->is_number_integer()) return found->get<std::int64_t>();
    if (found->is_array() && !found->empty() && found->front().is_number_integer()) {
      return found->front().get<std::int64_t>();
    }
    return wrong_type(key, "an integer or a list of integers"), -1;
  }

  bool has(const char* key) const { return document_.contains(key) && !document_[key].is_null(); }
  const json& at(const char* key) const { return document_.at(key); }

  void fail(const std::string& message) {
    if (!error_) error_ = Error::invalid_input(name_ + ": " + message);
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  template <typename T>
  std::optional<T> missing(const char* key, std::optional<T> fallback) {
    if (!fallback) fail(std::string("missing key '") + key + "'");
    return fallback;
  }
  void wrong_type(const char* key, const char* expected) { fail(std::string("'") + key + "' must be " + expected); }

  const json& document_;
  std::string name_;
  std::optional<Error> error_;
};

void read_llama_family(ConfigReader& reader, ModelConfig& config) {
  config.architecture = Architecture::llama;
  config.vocab_size = reader.integer("vocab_size");
  config.hidden_size = reader.integer("hidden_size");
  config.intermediate_size = reader.integer("intermediate_size");
  config.num_layers = reader.integer("num_hidden_layers");
  config.num_heads = reader.integer("num_attention_heads");
  config.num_kv_heads = reader.integer("num_key_value_heads", config.num_heads);
  config.max_position_embeddings = reader.integer("max_position_embeddings", 2048);
  config.norm_eps = reader.number("rms_norm_eps", 1e-6);
  // transformers 4 writes rope_theta and rope_scaling at the top level; transformers 5 writes one
  // rope_parameters object holding rope_theta, rope_type and the scaling keys.
  const bool nested_rope = reader.has("rope_parameters") && reader.at("rope_parameters").is_object();
  if (nested_rope && reader.at("rope_parameters").contains("rope_theta")) {
    const auto& theta = reader.at("rope_parameters").at("rope_theta");
    if (theta.is_number()) {
      config.rope_theta = theta.get<double>();
    } else {
      reader.fail("'rope_parameters.rope_theta' must be a number");
    }
  } else {
    config.rope_theta = reader.number("rope_theta", 10000.0);
  }
  config.initializer_range = reader.number("initializer_range", 0.02);
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", false);
  if (config.model_type == "qwen2") {
    config.qkv_bias = true;  // Qwen2Attention always has q/k/v biases and none on o_proj
  } else {
    bool attention_bias = reader.boolean("attention_bias", false);
    config.qkv_bias = attention_bias;
    config.o_bias = attention_bias;
    config.mlp_bias = reader.boolean("mlp_bias", false);
  }
  if (config.num_heads > 0) {
    config.head_dim = reader.has("head_dim") ? reader.integer("head_dim") : config.hidden_size / config.num_heads;
  }
  std::string activation = reader.text("hidden_act", std::string("silu"));
  if (activation != "silu") reader.fail("hidden_act '" + activation + "' is not supported for " + config.model_type + " (only silu)");

  bool sliding = reader.boolean("use_sliding_window", config.model_type == "mistral");
  if (sliding && reader.has("sliding_window") && reader.at("sliding_window").is_number_integer() &&
      reader.at("sliding_window").get<std::int64_t>() < config.max_position_embeddings) {
    reader.fail("sliding-window attention (sliding_window " +
                std::to_string(reader.at("sliding_window").get<std::int64_t>()) +
                ") is not supported by this version; it is exact only for sequences no longer than the window");
  }
  const char* scaling_key = nested_rope ? "rope_parameters" : "rope_scaling";
  if (reader.has(scaling_key)) {
    const json& scaling = reader.at(scaling_key);
    // transformers 5 writes rope_parameters even without scaling: no rope_type means the default.
    std::string type = scaling.is_object() ? scaling.value("rope_type", scaling.value("type", nested_rope ? "default" : ""))
                                           : "";
    if (type == "default") return;
    if (type != "llama3") {
      reader.fail(std::string(scaling_key) + " of type '" + type + "' is not supported (only llama3)");
      return;
    }
    Llama3RopeScaling llama3;
    try {
      llama3.factor = scaling.at("factor").get<double>();
      llama3.low_freq_factor = scaling.at("low_freq_factor").get<double>();
      llama3.high_freq_factor = scaling.at("high_freq_factor").get<double>();
      llama3.original_max_position_embeddings = scaling.at("original_max_position_embeddings").get<double>();
    } catch (const json::exception&) {
      reader.fail("rope_scaling of type llama3 needs numbers factor, low_freq_factor, high_freq_factor and "
                  "original_max_position_embeddings");
      return;
    }
    if (llama3.high_freq_factor <= llama3.low_freq_factor || llama3.factor <= 0) {
      reader.fail("rope_scaling: high_freq_factor must exceed low_freq_factor and factor must be positive");
    }
    config.rope_scaling = llama3;
  }
}

void read_gpt2(ConfigReader& reader, ModelConfig& config) {
  config.architecture = Architecture::gpt2;
  config.vocab_size = reader.integer("vocab_size");
  config.hidden_size = reader.integer("n_embd");
  config.num_layers = reader.integer("n_layer");
  config.num_heads = reader.integer("n_head");
  config.num_kv_heads = config.num_heads;
  config.max_position_embeddings = reader.integer("n_positions");
  config.intermediate_size = reader.has("n_inner") ? reader.integer("n_inner") : 4 * config.hidden_size;
  config.norm_eps = reader.number("layer_norm_epsilon", 1e-5);
  config.initializer_range = reader.number("initializer_range", 0.02);
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", true);
  config.qkv_bias = true;
  config.o_bias = true;
  config.mlp_bias = true;
  if (config.num_heads > 0) config.head_dim = config.hidden_size / config.num_heads;
  std::string activation = reader.text("activation_function", std::string("gelu_new"));
  if (activation != "gelu_new") reader.fail("activation_function '" + activation + "' is not supported (only gelu_new)");
  if (reader.boolean("scale_attn_by_inverse_layer_idx", false) || reader.boolean("reorder_and_upcast_attn", false)) {
    reader.fail("scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported");
  }
  if (!config.tie_word_embeddings) reader.fail("untied GPT-2 output embeddings are not supported");
}

}  // namespace

sdk::Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& display_name) {
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& failure) {
    return Error::invalid_input(display_name + ": not valid JSON (" + json_parse_error_reason(failure.what()) + ")");
  }
  if (!document.is_object()) return Error::invalid_input(display_name + ": must be a JSON object");
  ConfigReader reader(document, display_name);
  ModelConfig config;
  config.model_type = reader.text("model_type");
  if (reader.error()) return *reader.error();
  if (config.model_type == "llama" || config.model_type == "mistral" || config.model_type == "qwen2") {
    read_llama_family(reader, config);
  } else if (config.model_type == "gpt2") {
    read_gpt2(reader, config);
  } else {
    return Error::invalid_input(display_name + ": model_type " + quoted_for_message(config.model_type) +
                                " is not supported (supported: llama, mistral, qwen2, gpt2)");
  }
  config.source_json = json_text;
  config.bos_token_id = reader.token_id("bos_token_id");
  config.eos_token_id = reader.token_id("eos_token_id");
  if (reader.error()) return *reader.error();

  if (config.num_heads % config.num_kv_heads != 0) {
    return Error::invalid_input(display_name + ": num_attention_heads (" + std::to_string(config.num_heads) +
                                ") is not divisible by num_key_value_heads (" + std::to_string(config.num_kv_heads) + ")");
  }
  if (config.head_dim % 2 != 0 && config.architecture == Architecture::llama) {
    return Error::invalid_input(display_name + ": head_dim (" + std::to_string(config.head_dim) +
                                ") must be even for rotary embeddings");
  }
  if (config.architecture == Architecture::gpt2 && config.hidden_size % config.num_heads != 0) {
    return Error::invalid_input(display_name + ": n_embd (" + std::to_string(config.hidden_size) +
                                ") is not divisible by n_head (" + std::to_string(config.num_heads) + ")");
  }
  return config;
}

sdk::Result<ModelConfig> load_model_config(const std::filesystem::path& folder) {
  std::filesystem::path file = folder / "config.json";
  std::ifstream stream(file, std::ios::binary);
  if (!stream) return Error::invalid_input(file.string() + ": cannot read (is this a Hugging Face model folder?)");
  std::stringstream text;
  text << stream.rdbuf();
  return parse_model_config(text.str(), file.string());
}

std::string model_config_to_json(const ModelConfig& config, const std::string& quantization_config) {
  // The folder's weights are quantized exactly when there is a quantization_config to say how.
  auto with_quantization = [&](json document) {
    document.erase("quantization_config");
    if (!quantization_config.empty()) document["quantization_config"] = json::parse(quantization_config);
    return document.dump(2) + "\n";
  };
  if (!config.source_json.empty()) {
    json source = json::parse(config.source_json, nullptr, /*allow_exceptions=*/false);
    if (source.is_object()) {
      // fthost saves f32 weights; transformers 4 reads torch_dtype, 5 reads dtype.
      source[source.contains("dtype") ? "dtype" : "torch_dtype"] = "float32";
      return with_quantization(std::move(source));
    }
  }
  json document;
  if (config.architecture == Architecture::gpt2) {
    document = {{"architectures", {"GPT2LMHeadModel"}},
                {"model_type", "gpt2"},
                {"vocab_size", config.vocab_size},
                {"n_embd", config.hidden_size},
                {"n_layer", config.num_layers},
                {"n_head", config.num_heads},
                {"n_positions", config.max_position_embeddings},
                {"n_inner", config.intermediate_size},
                {"layer_norm_epsilon", config.norm_eps},
                {"activation_function", "gelu_new"},
                {"initializer_range", config.initializer_range},
                {"tie_word_embeddings", true},
                {"resid_pdrop", 0.0},
                {"embd_pdrop", 0.0},
                {"attn_pdrop", 0.0}};
  } else {
    std::string architecture = config.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                               : config.model_type == "mistral" ? "MistralForCausalLM"
                                                                : "LlamaForCausalLM";
    document = {{"architectures", {architecture}},
                {"model_type", config.model_type},
                {"vocab_size", config.vocab_size},
                {"hidden_size", config.hidden_size},
                {"intermediate_size", config.intermediate_size},
                {"num_hidden_layers", config.num_layers},
                {"num_attention_heads", config.num_heads},
                {"num_key_value_heads", config.num_kv_heads},
                {"head_dim", config.head_dim},
                {"max_position_embeddings", config.max_position_embeddings},
                {"rms_norm_eps", config.norm_eps},
                {"rope_theta", config.rope_theta},
                {"hidden_act", "silu"},
                {"initializer_range", config.initializer_range},
                {"tie_word_embeddings", config.tie_word_embeddings}};
    if (config.model_type != "qwen2") {
      document["attention_bias"] = config.qkv_bias;
      document["mlp_bias"] = config.mlp_bias;
    } else {
      document["use_sliding_window"] = false;
    }
    if (config.rope_scaling) {
      document["rope_scaling"] = {{"rope_type", "llama3"},
                                  {"factor", config.rope_scaling->factor},
                                  {"low_freq_factor", config.rope_scaling->low_freq_factor},
                                  {"high_freq_factor", config.rope_scaling->high_freq_factor},
                                  {"original_max_position_embeddings",
                                   static_cast<std::int64_t>(config.rope_scaling->original_max_position_embeddings)}};
    }
  }
  if (config.bos_token_id >= 0) document["bos_token_id"] = config.bos_token_id;
  if (config.eos_token_id >= 0) document["eos_token_id"] = config.eos_token_id;
  document["torch_dtype"] = "float32";
  return with_quantization(std::move(document));
}

}  // namespace fthost::model
