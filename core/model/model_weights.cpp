#include "model/model_weights.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "model/atomic_file.hpp"
#include "model/message_text.hpp"
#include "model/linear_sites.hpp"
#include "model/safetensors_checkpoint.hpp"

namespace fthost::model {
namespace {

using sdk::Error;

float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

float f16_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  std::uint32_t exponent = (half >> 10) & 0x1fu;
  std::uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // subnormal: value = mantissa * 2^-24
    float value = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign != 0 ? -value : value;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace

std::vector<float> float_tensor_values(const SafetensorsTensor& tensor) {
  const auto count = static_cast<std::size_t>(tensor.element_count());
  std::vector<float> values(count);
  const std::byte* bytes = tensor.bytes.data();
  switch (tensor.dtype) {
    case sdk::DType::f32:
      std::memcpy(values.data(), bytes, count * 4);
      break;
    case sdk::DType::bf16:
    case sdk::DType::f16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t bits = 0;
        std::memcpy(&bits, bytes + 2 * i, 2);
        values[i] = tensor.dtype == sdk::DType::bf16 ? bf16_to_float(bits) : f16_to_float(bits);
      }
      break;
    default:
      break;
  }
  return values;
}

namespace {

// The stored names a parameter may have: GPT-2 checkpoints saved from GPT2Model lack "transformer.".
std::vector<std::string> stored_names(const ModelConfig& config, const std::string& name) {
  std::vector<std::string> names = {name};
  if (config.architecture == Architecture::gpt2 && name.starts_with("transformer.")) {
    names.push_back(name.substr(std::string("transformer.").size()));
  }
  return names;
}

bool is_known_unused(const std::string& name) {
  return name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || name.ends_with("rotary_emb.inv_freq") ||
         name == "lm_head.weight";
}

// [rows, columns] -> [columns, rows]
std::vector<float> transposed_values(const std::vector<float>& values, std::int64_t rows, std::int64_t columns) {
  std::vector<float> out(values.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < columns; ++c) {
      out[static_cast<std::size_t>(c * rows + r)] = values[static_cast<std::size_t>(r * columns + c)];
    }
  }
  return out;
}

class SeededNormal {
 public:
  explicit SeededNormal(std::uint64_t seed) : engine_(seed) {}
  // Box-Muller from 53-bit uniforms: std::normal_distribution differs between standard libraries.
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    do {
      u1 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    } while (u1 <= 0.0);
    double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(2.0 * 3.14159265358979323846 * u2);
    has_spare_ = true;
    return radius * std::cos(2.0 * 3.14159265358979323846 * u2);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// One quantized site's tensors in a checkpoint, by name relative to the site.
class CheckpointSiteReader final : public sdk::SavedTensorReader {
 public:
  CheckpointSiteReader(const SafetensorsCheckpoint& checkpoint, std::vector<std::string> prefixes, std::string source,
                       std::vector<std::string>& used)
      : checkpoint_(checkpoint), prefixes_(std::move(prefixes)), source_(std::move(source)), used_(used) {}

  std::optional<sdk::SavedTensorView> find(std::string_view name) const override {
    for (const std::string& prefix : prefixes_) {
      const SafetensorsTensor* tensor = checkpoint_.find(prefix + std::string(name));
      if (tensor == nullptr) continue;
      used_.push_back(tensor->name);
      return sdk::SavedTensorView{tensor->dtype, tensor->shape, tensor->bytes};
    }
    return std::nullopt;
  }
  std::string source() const override { return source_; }

 private:
  const SafetensorsCheckpoint& checkpoint_;
  std::vector<std::string> prefixes_;
  std::string source_;
  std::vector<std::string>& used_;
};

}  // namespace

sdk::Result<std::unique_ptr<Transformer>> load_transformer(const std::filesystem::path& folder,
                                                           backend::Backend& backend, std::vector<std::string>* ignored,
                                                           const QuantizationChoice& quantization) {
  sdk::Result<ModelConfig> config = load_model_config(folder);
  if (!config) return config.error();
  sdk::Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(folder);
  if (!checkpoint) return checkpoint.error();
  std::unique_ptr<QuantizedSites> quantized;
  if (quantization.strategy != nullptr) {
    try {
      quantized = std::make_unique<QuantizedSites>(*quantization.strategy, quantization.plugin, linear_sites(*config),
                                                   backend);
    } catch (const std::exception& failure) {
      return Error::invalid_input(failure.what());
    }
  }
  auto model = std::make_unique<Transformer>(*config, backend, std::move(quantized));

  auto file_of = [&](const SafetensorsTensor* tensor) {
    for (const SafetensorsFile& file : checkpoint->files()) {
      if (file.find(tensor->name) == tensor) return file.path().string();
    }
    return checkpoint->folder().string();
  };
  const std::string index_file =
      (folder / (checkpoint->files().size() == 1 ? single_safetensors_file_name : safetensors_index_file_name)).string();
  std::vector<std::string> used;
  // A float tensor's values in fthost's layout ([out, in] for every linear), or why not.
  auto read_dense = [&](const std::string& name, backend::Shape shape, bool transposed) -> sdk::Result<std::vector<float>> {
    const SafetensorsTensor* stored = nullptr;
    for (const std::string& candidate : stored_names(*config, name)) {
      stored = checkpoint->find(candidate);
      if (stored != nullptr) break;
    }
    if (stored == nullptr) {
      return Error::invalid_input(index_file + ": missing tensor '" + name + "' (a " + config->model_type +
                                  " model with this config.json needs it)");
    }
    used.push_back(stored->name);
    backend::Shape expected = shape;
    if (transposed) std::swap(expected[0], expected[1]);
    if (stored->shape != expected) {
      return Error::invalid_input(file_of(stored) + ": tensor '" + stored->name + "' has shape " +
                                  shape_for_message(stored->shape) + ", expected " + shape_for_message(expected) +
                                  " from config.json");
    }
    if (!is_float_dtype(stored->dtype)) {
      return Error::invalid_input(file_of(stored) + ": tensor '" + stored->name + "' has dtype " +
                                  std::string(sdk::to_string(stored->dtype)) + ", expected a float type (F32, F16, BF16)" +
                                  (stored->dtype == sdk::DType::u8 || stored->dtype == sdk::DType::i8
                                       ? " (a quantized weight: load the folder with its quantization plugin)"
                                       : ""));
    }
    std::vector<float> values = float_tensor_values(*stored);
    if (transposed) values = transposed_values(values, expected[0], expected[1]);
    return values;
  };
  for (const ParameterSpec& spec : model->layout().specs()) {
    sdk::Result<std::vector<float>> values = read_dense(spec.name, spec.shape, spec.stored_transposed);
    if (!values) return values.error();
    backend.upload(model->parameters().get(spec), values->data());
  }
  if (QuantizedSites* sites = model->quantized()) {
    const ParameterLayout dense_layout(*config);
    for (const QuantizedSites::Site& site : sites->sites()) {
      CheckpointSiteReader reader(*checkpoint, stored_names(*config, site.site.name + "."), index_file, used);
      try {
        if (sites->saved_quantized(site.site.name, reader)) {
          sdk::Errors problems = sites->load(site.site.name, reader);
          if (!problems.empty()) return problems.front();
          continue;
        }
        // Dense in the folder: quantized here, one site's f32 weight at a time.
        const ParameterSpec* dense = dense_layout.find(site.site.name + ".weight");
        sdk::Result<std::vector<float>> values =
            read_dense(site.site.name + ".weight", {site.site.out_features, site.site.in_features},
                       dense != nullptr && dense->stored_transposed);
        if (!values) return values.error();
        backend::Tensor weight = backend.empty(backend::DType::f32, {site.site.out_features, site.site.in_features});
        backend.upload(weight, values->data());
        sites->quantize(site.site.name, weight);
      } catch (const std::exception& failure) {
        return Error::invalid_input(failure.what());
      }
    }
  }
  if (ignored != nullptr) {
    for (const SafetensorsTensor* tensor : checkpoint->tensors()) {
      bool unused = std::find(used.begin(), used.end(), tensor->name) == used.end();
      if (unused && !is_known_unused(tensor->name)) ignored->push_back(tensor->name);
    }
  }
  return model;
}

sdk::Result<std::vector<std::filesystem::path>> save_transformer(const Transformer& model,
                                                                 const std::filesystem::path& folder) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) return Error::invalid_input(folder.string() + ": cannot create folder (" + error.message() + ")");

  // Host copies of every parameter, in the stored layout; the tensors below point into them.
  std::vector<std::vector<float>> host_values;
  std::vector<SafetensorsTensor> tensors;
  host_values.reserve(model.layout().specs().size());
  for (const ParameterSpec& spec : model.layout().specs()) {
    std::vector<float> values(static_cast<std::size_t>(backend::shape_elements(spec.shape)));
    model.backend().download(values.data(), model.parameters().get(spec));
    backend::Shape stored_shape = spec.shape;
    if (spec.stored_transposed) {
      values = transposed_values(values, spec.shape[0], spec.shape[1]);
      std::swap(stored_shape[0], stored_shape[1]);
    }
    host_values.push_back(std::move(values));
    SafetensorsTensor tensor;
    tensor.name = spec.name;
    tensor.dtype = sdk::DType::f32;
    tensor.shape = stored_shape;
    tensor.bytes = std::as_bytes(std::span<const float>(host_values.back()));
    tensors.push_back(std::move(tensor));
  }
  std::vector<sdk::SavedTensor> quantized_tensors;
  std::string quantization_config;
  if (const QuantizedSites* quantized = model.quantized()) {
    try {
      for (const QuantizedSites::Site& site : quantized->sites()) {
        for (sdk::SavedTensor& saved : quantized->save(site.site.name)) {
          saved.name = site.site.name + "." + saved.name;
          quantized_tensors.push_back(std::move(saved));
        }
      }
      quantization_config = quantized->quantization_config_json();
    } catch (const std::exception& failure) {
      return Error::internal(failure.what());
    }
    for (const sdk::SavedTensor& saved : quantized_tensors) {
      SafetensorsTensor tensor;
      tensor.name = saved.name;
      tensor.dtype = saved.dtype;
      tensor.shape = saved.shape;
      tensor.bytes = saved.bytes;
      tensors.push_back(std::move(tensor));
    }
  }
  // Formed before any file is written, so a plugin's malformed quantization_config leaves no
  // half-written folder.
  std::string config_text;
  try {
    config_text = model_config_to_json(model.config(), quantization_config);
  } catch (const std::exception& failure) {
    return Error::internal("quantization plugin '" + model.quantized()->plugin() +
                           "' wrote a quantization_config that is not JSON: " + failure.what());
  }
  sdk::Result<std::vector<std::filesystem::path>> written =
      write_safetensors_checkpoint(folder, tensors, {{"format", "pt"}});
  if (!written) return written.error();
  std::span<const std::byte> config_bytes = std::as_bytes(std::span<const char>(config_text));
  std::span<const std::byte> pieces[] = {config_bytes};
  sdk::Result<std::uint64_t> config_written = write_file_atomically(folder / "config.json", pieces);
  if (!config_written) return config_written.error();
  written->push_back(folder / "config.json");
  return written;
}

std::unique_ptr<Transformer> dense_copy(const Transformer& model) {
  auto dense = std::make_unique<Transformer>(model.config(), model.backend());
  for (const ParameterSpec& spec : model.layout().specs()) {
    model.backend().copy(dense->parameters().get(spec.name), model.parameters().get(spec));
  }
  if (const QuantizedSites* quantized = model.quantized()) {
    for (const QuantizedSites::Site& site : quantized->sites()) {
      quantized->dequantize(site.site.name, dense->parameters().get(site.site.name + ".weight"));
    }
  }
  return dense;
}

sdk::Result<std::vector<std::string>> copy_tokenizer_files(const std::filesystem::path& from,
                                                           const std::filesystem::path& to) {
  std::vector<std::string> copied;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
    std::error_code error;
    if (!std::filesystem::exists(from / name, error)) continue;
    std::filesystem::copy_file(from / name, to / name, std::filesystem::copy_options::overwrite_existing, error);
    if (error) return Error::invalid_input((to / name).string() + ": cannot copy (" + error.message() + ")");
    copied.emplace_back(name);
  }
  return copied;
}

void initialize_transformer(Transformer& model, std::uint64_t seed) {
  const ModelConfig& config = model.config();
  SeededNormal normal(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * static_cast<double>(config.num_layers));
  for (const ParameterSpec& spec : model.layout().specs()) {
    std::vector<float> values(static_cast<std::size_t>(backend::shape_elements(spec.shape)));
    switch (spec.role) {
      case ParameterRole::norm_weight:
        std::fill(values.begin(), values.end(), 1.0f);
        break;
      case ParameterRole::norm_bias:
      case ParameterRole::linear_bias:
        break;
      case ParameterRole::embedding:
      case ParameterRole::position_embedding:
      case ParameterRole::linear_weight: {
        double std_dev = config.initializer_range;
        // GPT-2 scales the projections that write into the residual stream (GPT2PreTrainedModel).
        if (config.architecture == Architecture::gpt2 && spec.name.ends_with("c_proj.weight")) std_dev *= residual_scale;
        for (float& value : values) value = static_cast<float>(normal.next() * std_dev);
        break;
      }
    }
    model.backend().upload(model.parameters().get(spec), values.data());
  }
}

}  // namespace fthost::model
