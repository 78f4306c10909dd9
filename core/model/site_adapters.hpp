#pragma once
// An adapter strategy attached to the model's linear sites: the host owns the adapter's
// parameters (one contiguous buffer, named by the saved format's keys), their per-token
// activations, and calls the plugin's hooks beside each base projection. The base weights stay
// frozen; only these parameters train.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"
#include "backend/plugin_ops.hpp"
#include "fthost/sdk/strategy.hpp"
#include "model/parameters.hpp"

namespace fthost::model {

class SiteAdapters {
 public:
  struct Site {
    sdk::LinearSite site;
    std::uint64_t index = 0;                       // position among the model's sites: seeds derive from it
    sdk::SiteAdapterLayout layout;
    std::vector<const ParameterSpec*> parameters;  // layout.parameters, in order, in the buffer
    std::vector<backend::Tensor> activations;      // [rows, width] per layout.activations
  };

  // Attaches to every site the strategy targets, and copies the base parameters of its
  // modules_to_save (from `base`, the model's layout). `plugin` names the strategy in errors.
  // Throws std::invalid_argument (with the plugin's name) when a site's layout is unusable or a
  // module to save matches no parameter of the model.
  SiteAdapters(const sdk::AdapterStrategy& strategy, std::string plugin, const std::vector<sdk::LinearSite>& sites,
               const ParameterLayout& base, backend::Backend& backend);
  SiteAdapters(const SiteAdapters&) = delete;
  SiteAdapters& operator=(const SiteAdapters&) = delete;

  const sdk::AdapterStrategy& strategy() const { return strategy_; }
  const std::string& plugin() const { return plugin_; }
  backend::Backend& backend() const { return backend_; }
  // The base model the adapter belongs to, as written into adapter_config.json.
  const std::string& base_model() const { return base_model_; }
  void set_base_model(std::string name_or_path) { base_model_ = std::move(name_or_path); }
  const ParameterLayout& layout() const { return *layout_; }
  ParameterSet& parameters() { return *parameters_; }
  const ParameterSet& parameters() const { return *parameters_; }
  const std::vector<Site>& sites() const { return sites_; }
  bool adapts(std::string_view site_name) const { return find(site_name) != nullptr; }

  // The trained copy of base parameter `name` when its module is saved whole; undefined otherwise.
  backend::Tensor module_copy(std::string_view name) const;
  // Its gradient in `gradients` (laid out as parameters()); undefined when not a saved module.
  backend::Tensor module_copy_gradient(std::string_view name, const ParameterSet& gradients) const;
  const std::map<std::string, std::string, std::less<>>& module_copies() const { return copy_by_base_name_; }

  // The plugin's initialisation for every site (each site's seed derives from `seed` and its
  // index), and the modules to save copied from the base parameters.
  void initialize(std::uint64_t seed, const ParameterSet& base);

  // Until the next call: whether passes train (dropout) and the seed each site's pass derives from.
  void begin_pass(bool training, std::uint64_t seed);

  // output[N, out] += adapter(input[N, in]) when `site_name` is adapted; nothing otherwise.
  void forward(std::string_view site_name, const backend::Tensor& input, const backend::Tensor& output);
  // gradients (laid out as parameters()) += d/dparameters; d_input += d/dinput (may be undefined).
  void backward(std::string_view site_name, const backend::Tensor& input, const backend::Tensor& d_output,
                const backend::Tensor& d_input, ParameterSet& gradients);

  // model_weights[site.weight] += the adapter's update, for every adapted site, and the saved
  // modules' trained copies replace their base parameters (fthost merge).
  void merge_into(ParameterSet& model_parameters);

 private:
  const Site* find(std::string_view site_name) const;
  Site* find(std::string_view site_name);
  void ensure_activation_rows(Site& site, std::int64_t rows);
  sdk::AdapterPass pass_for(const Site& site) const;
  template <typename Hook>
  void call_plugin(const Site& site, const char* hook, Hook&& hook_body) const;

  const sdk::AdapterStrategy& strategy_;
  std::string plugin_;
  backend::Backend& backend_;
  mutable backend::PluginOps ops_;
  std::unique_ptr<ParameterLayout> layout_;
  std::unique_ptr<ParameterSet> parameters_;
  std::vector<Site> sites_;
  std::map<std::string, std::size_t, std::less<>> index_by_name_;
  std::map<std::string, std::string, std::less<>> copy_by_base_name_;  // base parameter -> its saved name
  std::string base_model_;
  bool training_ = false;
  std::uint64_t pass_seed_ = 0;
};

}  // namespace fthost::model
