#include "model/site_adapters.hpp"

#include <exception>
#include <stdexcept>

#include "backend/counter_random.hpp"

namespace fthost::model {

using backend::Tensor;
using backend::tensor_ref;

namespace {

// Views of a site's parameters inside `set` (the parameters themselves or their gradients). The
// set owns the bytes, so the views outlive the temporary Tensors they are taken from.
std::vector<sdk::TensorRef> refs_in(const std::vector<const ParameterSpec*>& specs, const ParameterSet& set) {
  std::vector<sdk::TensorRef> refs;
  refs.reserve(specs.size());
  for (const ParameterSpec* spec : specs) refs.push_back(tensor_ref(set.get(*spec)));
  return refs;
}

}  // namespace

SiteAdapters::SiteAdapters(const sdk::AdapterStrategy& strategy, std::string plugin,
                           const std::vector<sdk::LinearSite>& sites, const ParameterLayout& base,
                           backend::Backend& backend)
    : strategy_(strategy),
      plugin_(std::move(plugin)),
      backend_(backend),
      ops_(backend),
      layout_(std::make_unique<ParameterLayout>()) {
  for (std::size_t index = 0; index < sites.size(); ++index) {
    const sdk::LinearSite& linear = sites[index];
    bool targeted = false;
    Site site;
    site.site = linear;
    call_plugin(site, "targets", [&] {
      targeted = strategy_.targets(linear);
      if (targeted) site.layout = strategy_.site_layout(linear);
    });
    if (!targeted) continue;
    site.index = index;
    for (const sdk::AdapterTensor& tensor : site.layout.parameters) {
      if (tensor.rows <= 0 || tensor.cols <= 0) {
        throw std::invalid_argument(plugin_ + ": adapter tensor " + tensor.name + " of " + linear.name +
                                    " has shape [" + std::to_string(tensor.rows) + ", " +
                                    std::to_string(tensor.cols) + "]; both extents must be positive");
      }
      std::string name;
      call_plugin(site, "saved_tensor_name", [&] { name = strategy_.saved_tensor_name(linear, tensor); });
      if (layout_->find(name) != nullptr) {
        throw std::invalid_argument(plugin_ + ": two adapter tensors are both named '" + name + "'");
      }
      layout_->add(name, {tensor.rows, tensor.cols}, ParameterRole::linear_weight);
    }
    for (const sdk::AdapterTensor& activation : site.layout.activations) {
      if (activation.cols <= 0) {
        throw std::invalid_argument(plugin_ + ": activation " + activation.name + " of " + linear.name +
                                    " has width " + std::to_string(activation.cols) + "; it must be positive");
      }
    }
    site.activations.resize(site.layout.activations.size());
    index_by_name_[linear.name] = sites_.size();
    sites_.push_back(std::move(site));
  }
  std::vector<std::string> modules;
  Site no_site;
  call_plugin(no_site, "modules_to_save", [&] { modules = strategy_.modules_to_save(); });
  for (const std::string& module : modules) {
    bool matched = false;
    for (const ParameterSpec& spec : base.specs()) {
      if (!sdk::site_name_matches(parameter_module(spec.name), module)) continue;
      matched = true;
      if (copy_by_base_name_.count(spec.name) != 0) continue;
      std::string saved;
      call_plugin(no_site, "saved_module_tensor_name", [&] { saved = strategy_.saved_module_tensor_name(spec.name); });
      if (layout_->find(saved) != nullptr) {
        throw std::invalid_argument(plugin_ + ": two adapter tensors are both named '" + saved + "'");
      }
      layout_->add(saved, spec.shape, spec.role, spec.stored_transposed);
      copy_by_base_name_[spec.name] = saved;
    }
    if (!matched) {
      throw std::invalid_argument(plugin_ + ": modules_to_save entry '" + module +
                                  "' matches no module of this model (with tied embeddings the output head is the "
                                  "embedding: name it, e.g. embed_tokens)");
    }
  }
  // Pointers into the layout are taken once it stops growing.
  std::size_t next = 0;
  for (Site& site : sites_) {
    for (std::size_t i = 0; i < site.layout.parameters.size(); ++i) site.parameters.push_back(&layout_->specs()[next++]);
  }
  parameters_ = std::make_unique<ParameterSet>(*layout_, backend_);
}

const SiteAdapters::Site* SiteAdapters::find(std::string_view site_name) const {
  auto found = index_by_name_.find(site_name);
  return found == index_by_name_.end() ? nullptr : &sites_[found->second];
}

SiteAdapters::Site* SiteAdapters::find(std::string_view site_name) {
  auto found = index_by_name_.find(site_name);
  return found == index_by_name_.end() ? nullptr : &sites_[found->second];
}

// Whatever a plugin throws becomes an error naming the plugin, the hook and the site, raised in
// the host's frame (STYLE: no exception crosses a plugin boundary uncaught).
template <typename Hook>
void SiteAdapters::call_plugin(const Site& site, const char* hook, Hook&& hook_body) const {
  try {
    hook_body();
  } catch (const std::exception& failure) {
    std::string where = site.site.name.empty() ? "" : " at " + site.site.name;
    throw std::runtime_error("adapter plugin '" + plugin_ + "' failed in " + hook + where + ": " + failure.what());
  }
}

backend::Tensor SiteAdapters::module_copy(std::string_view name) const {
  auto found = copy_by_base_name_.find(name);
  return found == copy_by_base_name_.end() ? Tensor{} : parameters_->get(found->second);
}

backend::Tensor SiteAdapters::module_copy_gradient(std::string_view name, const ParameterSet& gradients) const {
  auto found = copy_by_base_name_.find(name);
  return found == copy_by_base_name_.end() ? Tensor{} : gradients.get(found->second);
}

void SiteAdapters::initialize(std::uint64_t seed, const ParameterSet& base) {
  for (const auto& [base_name, saved] : copy_by_base_name_) backend_.copy(parameters_->get(saved), base.get(base_name));
  for (const Site& site : sites_) {
    const std::vector<sdk::TensorRef> refs = refs_in(site.parameters, *parameters_);
    sdk::SiteAdapterTensors tensors{refs, {}, {}};
    call_plugin(site, "initialize", [&] {
      strategy_.initialize(site.site, tensors, backend::counter_substream(seed, site.index), ops_);
    });
  }
}

void SiteAdapters::begin_pass(bool training, std::uint64_t seed) {
  training_ = training;
  pass_seed_ = seed;
}

sdk::AdapterPass SiteAdapters::pass_for(const Site& site) const {
  return sdk::AdapterPass{training_, backend::counter_substream(pass_seed_, site.index)};
}

void SiteAdapters::ensure_activation_rows(Site& site, std::int64_t rows) {
  for (std::size_t i = 0; i < site.activations.size(); ++i) {
    Tensor& activation = site.activations[i];
    const std::int64_t width = site.layout.activations[i].cols;
    if (activation.defined() && activation.dim(0) == rows) continue;
    activation = Tensor{};  // give the old buffer back first: peak memory stays honest
    activation = backend_.empty(backend::DType::f32, {rows, width});
  }
}

void SiteAdapters::forward(std::string_view site_name, const Tensor& input, const Tensor& output) {
  Site* site = find(site_name);
  if (site == nullptr) return;
  const std::int64_t rows = tensor_ref(input).rows;
  ensure_activation_rows(*site, rows);
  const std::vector<sdk::TensorRef> parameter_refs = refs_in(site->parameters, *parameters_);
  const std::vector<sdk::TensorRef> activation_refs = backend::tensor_refs(site->activations);
  sdk::SiteAdapterTensors tensors{parameter_refs, {}, activation_refs};
  call_plugin(*site, "forward", [&] {
    strategy_.forward(site->site, tensors, tensor_ref(input), tensor_ref(output), pass_for(*site), ops_);
  });
}

void SiteAdapters::backward(std::string_view site_name, const Tensor& input, const Tensor& d_output,
                            const Tensor& d_input, ParameterSet& gradients) {
  const Site* site = find(site_name);
  if (site == nullptr) return;
  const std::vector<sdk::TensorRef> parameter_refs = refs_in(site->parameters, *parameters_);
  const std::vector<sdk::TensorRef> gradient_refs = refs_in(site->parameters, gradients);
  const std::vector<sdk::TensorRef> activation_refs = backend::tensor_refs(site->activations);
  sdk::SiteAdapterTensors tensors{parameter_refs, gradient_refs, activation_refs};
  call_plugin(*site, "backward", [&] {
    strategy_.backward(site->site, tensors, tensor_ref(input), tensor_ref(d_output), tensor_ref(d_input),
                       pass_for(*site), ops_);
  });
}

void SiteAdapters::merge_into(ParameterSet& model_parameters) {
  for (const Site& site : sites_) {
    const std::vector<sdk::TensorRef> refs = refs_in(site.parameters, *parameters_);
    sdk::SiteAdapterTensors tensors{refs, {}, {}};
    Tensor weight = model_parameters.get(site.site.name + ".weight");
    call_plugin(site, "merge", [&] { strategy_.merge(site.site, tensors, tensor_ref(weight), ops_); });
  }
  for (const auto& [base_name, saved] : copy_by_base_name_) {
    backend_.copy(model_parameters.get(base_name), parameters_->get(saved));
  }
}

}  // namespace fthost::model
