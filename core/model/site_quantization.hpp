#pragma once
// A quantization strategy applied to the model's frozen linear sites: for every site the strategy
// quantizes, the host keeps the plugin's stored tensors (codes and scales) instead of the dense
// weight, and the plugin's hooks multiply with them. The dense weight of a quantized site never
// lives in the model; while loading, one site's dense weight at a time is formed and quantized.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"
#include "backend/plugin_ops.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::model {

class QuantizedSites {
 public:
  struct Site {
    sdk::LinearSite site;
    std::vector<sdk::QuantizedTensor> layout;
    std::vector<backend::Tensor> stored;  // per layout
  };

  // Allocates the stored tensors of every site in `sites` the strategy quantizes. Throws
  // std::invalid_argument (naming the plugin) for a layout it cannot allocate, and for the output
  // head: the chunked loss multiplies the dense head (kept dense by every plugin's default).
  QuantizedSites(const sdk::QuantizationStrategy& strategy, std::string plugin, const std::vector<sdk::LinearSite>& sites,
                 backend::Backend& backend);
  QuantizedSites(const QuantizedSites&) = delete;
  QuantizedSites& operator=(const QuantizedSites&) = delete;

  const sdk::QuantizationStrategy& strategy() const { return strategy_; }
  const std::string& plugin() const { return plugin_; }
  const std::vector<Site>& sites() const { return sites_; }
  bool quantizes(std::string_view site_name) const { return find(site_name) != nullptr; }
  const Site* find(std::string_view site_name) const;
  // The stored tensors' bytes, all sites together (what the quantized weights cost in memory).
  std::int64_t stored_bytes() const;

  // Hooks, each throwing std::runtime_error naming the plugin, hook and site when the plugin throws.
  void quantize(std::string_view site_name, const backend::Tensor& weight);          // [out, in] f32
  void dequantize(std::string_view site_name, const backend::Tensor& weight) const;  // [out, in] f32
  void forward(std::string_view site_name, const backend::Tensor& input, const backend::Tensor& output) const;
  void backward(std::string_view site_name, const backend::Tensor& d_output, const backend::Tensor& d_input) const;
  std::vector<sdk::SavedTensor> save(std::string_view site_name) const;
  bool saved_quantized(std::string_view site_name, const sdk::SavedTensorReader& saved) const;
  sdk::Errors load(std::string_view site_name, const sdk::SavedTensorReader& saved);
  std::string quantization_config_json() const;

 private:
  const Site& site(std::string_view site_name) const;
  template <typename Hook>
  void call_plugin(const Site* site, const char* hook, Hook&& hook_body) const;

  const sdk::QuantizationStrategy& strategy_;
  std::string plugin_;
  backend::Backend& backend_;
  mutable backend::PluginOps ops_;
  std::vector<Site> sites_;
  std::map<std::string, std::size_t, std::less<>> index_by_name_;
};

}  // namespace fthost::model
