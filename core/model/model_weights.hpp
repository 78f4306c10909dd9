#pragma once
// Model weights in and out of Hugging Face folders, and random initialisation.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fthost/sdk/error.hpp"
#include "model/safetensors.hpp"
#include "model/transformer.hpp"

namespace fthost::model {

// Reads config.json and every parameter from model.safetensors (or its sharded index) into a new
// Transformer on `backend`. F32, F16 and BF16 tensors are converted to f32. Refused with one
// line naming the file and tensor: a missing tensor, a wrong shape, a non-float dtype. Tensors
// the model does not use are listed in `ignored` when given, except those Hugging Face itself
// saves without using (attention mask buffers, rotary inv_freq, the lm_head copy of a tied model).
//
// With a quantization strategy, the sites it quantizes keep its stored tensors instead of their
// weights: read as saved when the folder holds them quantized (the strategy's saved_quantized),
// else quantized from the folder's dense weight one site at a time. A quantized site's saved
// tensors that the strategy rejects are refused with its error.
struct QuantizationChoice {
  const sdk::QuantizationStrategy* strategy = nullptr;  // none: every weight dense
  std::string plugin;                                   // names the strategy in errors
};
sdk::Result<std::unique_ptr<Transformer>> load_transformer(const std::filesystem::path& folder,
                                                           backend::Backend& backend,
                                                           std::vector<std::string>* ignored = nullptr,
                                                           const QuantizationChoice& quantization = {});

// Writes config.json and model.safetensors (f32) to `folder` as Hugging Face lays them out,
// each file atomically (GPT-2's Conv1D weights transposed back to [in, out]). Quantized sites are
// written in their plugin's saved format, and config.json gets its "quantization_config".
sdk::Result<std::vector<std::filesystem::path>> save_transformer(const Transformer& model,
                                                                 const std::filesystem::path& folder);

// A dense f32 model equal to `model` without its adapters: its parameters copied, the weights of
// its quantized sites dequantized (what `fthost merge` writes from a quantized base). Throws
// std::runtime_error, naming the plugin, when a quantization plugin fails.
std::unique_ptr<Transformer> dense_copy(const Transformer& model);

// A Hugging Face folder is used with its tokenizer: copies tokenizer.json, tokenizer_config.json,
// special_tokens_map.json and generation_config.json from `from` to `to` where they exist.
// Returns the names copied.
sdk::Result<std::vector<std::string>> copy_tokenizer_files(const std::filesystem::path& from,
                                                           const std::filesystem::path& to);

// F32, F16 or BF16: the stored dtypes fthost reads as weights (converted to f32).
inline bool is_float_dtype(sdk::DType dtype) {
  return dtype == sdk::DType::f32 || dtype == sdk::DType::bf16 || dtype == sdk::DType::f16;
}

// A float tensor's elements (F32, F16 or BF16) as f32; empty for other dtypes.
std::vector<float> float_tensor_values(const SafetensorsTensor& tensor);

// Hugging Face's initialisation (LlamaPreTrainedModel / GPT2PreTrainedModel._init_weights):
// linear weights and embeddings ~ N(0, initializer_range), GPT-2's residual projections scaled by
// 1/sqrt(2 * n_layer), norm weights 1, biases 0. Deterministic for a seed on every platform.
void initialize_transformer(Transformer& model, std::uint64_t seed);

}  // namespace fthost::model
