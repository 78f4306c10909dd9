#pragma once
// The model's parameters as one contiguous f32 buffer with a table of named views (llm.c's
// layout): loading, saving, zeroing gradients, the optimizer and the global gradient norm each
// walk one buffer. A gradient set has the same layout as the parameters it belongs to.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"
#include "model/model_config.hpp"

namespace fthost::model {

enum class ParameterRole : std::uint8_t { embedding, position_embedding, norm_weight, norm_bias, linear_weight, linear_bias };

struct ParameterSpec {
  std::string name;  // Hugging Face name: "model.layers.0.self_attn.q_proj.weight"
  backend::Shape shape;
  ParameterRole role = ParameterRole::linear_weight;
  std::int64_t offset = 0;  // elements into the buffer
  // GPT-2's Conv1D stores linear weights [in, out]; fthost keeps every linear as [out, in] and
  // transposes on load and save.
  bool stored_transposed = false;
};

// The module a parameter belongs to: its name without the last component
// ("model.layers.0.mlp.up_proj.weight" -> "model.layers.0.mlp.up_proj"). PEFT's modules_to_save
// and target_modules entries name modules.
inline std::string_view parameter_module(std::string_view parameter) {
  const std::size_t dot = parameter.rfind('.');
  return dot == std::string_view::npos ? parameter : parameter.substr(0, dot);
}

// Which parameters a model has, where each lives in the buffer. Built from the config alone.
class ParameterLayout {
 public:
  explicit ParameterLayout(const ModelConfig& config);
  // Without the parameters named in `omitted` (the weights of quantized sites, kept elsewhere).
  ParameterLayout(const ModelConfig& config, const std::set<std::string, std::less<>>& omitted);
  ParameterLayout() = default;  // filled with add(): an adapter's parameters

  void add(std::string name, backend::Shape shape, ParameterRole role, bool stored_transposed = false);

  const std::vector<ParameterSpec>& specs() const { return specs_; }
  const ParameterSpec* find(std::string_view name) const;
  std::int64_t total_elements() const { return total_elements_; }  // buffer size, alignment padding included
  std::int64_t parameter_count() const { return parameter_count_; }  // the parameters alone

 private:
  std::vector<ParameterSpec> specs_;
  std::map<std::string, std::size_t, std::less<>> index_by_name_;
  std::int64_t total_elements_ = 0;
  std::int64_t parameter_count_ = 0;
};

// A buffer laid out as a ParameterLayout: the parameters themselves, their gradients, or an
// optimizer state.
class ParameterSet {
 public:
  ParameterSet(const ParameterLayout& layout, backend::Backend& backend);

  const ParameterLayout& layout() const { return *layout_; }
  const backend::Tensor& buffer() const { return buffer_; }
  backend::Tensor get(std::string_view name) const;  // throws std::logic_error on an unknown name
  backend::Tensor get(const ParameterSpec& spec) const;

 private:
  const ParameterLayout* layout_;
  backend::Tensor buffer_;
};

}  // namespace fthost::model
