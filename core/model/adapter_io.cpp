#include "model/adapter_io.hpp"

#include <algorithm>

#include "model/atomic_file.hpp"
#include "model/message_text.hpp"
#include "model/model_weights.hpp"
#include "model/safetensors.hpp"

namespace fthost::model {

using sdk::Error;

sdk::Result<std::vector<std::filesystem::path>> save_adapter(const SiteAdapters& adapters,
                                                             const std::filesystem::path& folder,
                                                             const std::string& base_model_name_or_path) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) return Error::invalid_input(folder.string() + ": cannot create folder (" + error.message() + ")");

  std::vector<std::vector<float>> host_values;
  std::vector<SafetensorsTensor> tensors;
  host_values.reserve(adapters.layout().specs().size());
  backend::Backend& backend = adapters.backend();
  for (const ParameterSpec& spec : adapters.layout().specs()) {
    std::vector<float>& values = host_values.emplace_back(static_cast<std::size_t>(backend::shape_elements(spec.shape)));
    backend.download(values.data(), adapters.parameters().get(spec));
    SafetensorsTensor tensor;
    tensor.name = spec.name;
    tensor.dtype = sdk::DType::f32;
    tensor.shape = spec.shape;
    tensor.bytes = std::as_bytes(std::span<const float>(values));
    tensors.push_back(std::move(tensor));
  }
  // PEFT's own files carry {"format": "pt"} as torch's save_file writes it.
  sdk::Result<std::uint64_t> weights = write_safetensors(folder / adapter_weights_file_name, tensors, {{"format", "pt"}});
  if (!weights) return weights.error();

  std::string config_text;
  try {
    config_text = adapters.strategy().adapter_config_json(base_model_name_or_path);
  } catch (const std::exception& failure) {
    return Error::internal("adapter plugin '" + adapters.plugin() + "' failed in adapter_config_json: " + failure.what());
  }
  std::span<const std::byte> pieces[] = {std::as_bytes(std::span<const char>(config_text))};
  sdk::Result<std::uint64_t> config = write_file_atomically(folder / adapter_config_file_name, pieces);
  if (!config) return config.error();
  return std::vector<std::filesystem::path>{folder / adapter_config_file_name, folder / adapter_weights_file_name};
}

sdk::Result<bool> load_adapter_weights(SiteAdapters& adapters, const std::filesystem::path& folder,
                                       ParameterSet* base) {
  const std::filesystem::path path = folder / adapter_weights_file_name;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return Error::invalid_input(path.string() + ": no such file (an adapter folder holds " + adapter_config_file_name +
                                " and " + adapter_weights_file_name + ")");
  }
  sdk::Result<SafetensorsFile> file = SafetensorsFile::open(path);
  if (!file) return file.error();
  constexpr std::string_view peft_prefix = "base_model.model.";
  constexpr std::string_view base_layer = ".base_layer.";
  for (const SafetensorsTensor& tensor : file->tensors()) {
    const std::size_t marker = tensor.name.find(base_layer);
    if (marker != std::string::npos && tensor.name.starts_with(peft_prefix) && base != nullptr) {
      const std::string parameter = tensor.name.substr(peft_prefix.size(), marker - peft_prefix.size()) + "." +
                                    tensor.name.substr(marker + base_layer.size());
      const ParameterSpec* spec = base->layout().find(parameter);
      if (spec == nullptr || spec->shape != tensor.shape || !is_float_dtype(tensor.dtype)) {
        return Error::invalid_input(path.string() + ": tensor '" + tensor.name + "' does not fit the base model's '" +
                                    parameter + "'");
      }
      std::vector<float> values = float_tensor_values(tensor);
      adapters.backend().upload(base->get(*spec), values.data());
      continue;
    }
    if (adapters.layout().find(tensor.name) == nullptr) {
      return Error::invalid_input(path.string() + ": tensor '" + tensor.name +
                                  "' belongs to no adapted site of this model (was the adapter made for other "
                                  "target_modules or another base model?)");
    }
  }
  for (const ParameterSpec& spec : adapters.layout().specs()) {
    const SafetensorsTensor* stored = file->find(spec.name);
    if (stored == nullptr) {
      return Error::invalid_input(path.string() + ": missing tensor '" + spec.name + "' (" +
                                  std::string(adapter_config_file_name) + " targets its site)");
    }
    if (stored->shape != spec.shape) {
      return Error::invalid_input(path.string() + ": tensor '" + spec.name + "' has shape " +
                                  shape_for_message(stored->shape) + ", expected " + shape_for_message(spec.shape) +
                                  " from adapter_config.json and the base model");
    }
    if (!is_float_dtype(stored->dtype)) {
      return Error::invalid_input(path.string() + ": tensor '" + spec.name + "' has dtype " +
                                  std::string(sdk::to_string(stored->dtype)) + ", expected a float type (F32, F16, BF16)");
    }
    std::vector<float> values = float_tensor_values(*stored);
    adapters.backend().upload(adapters.parameters().get(spec), values.data());
  }
  return true;
}

}  // namespace fthost::model
