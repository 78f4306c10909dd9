#include "model/site_quantization.hpp"

#include <exception>
#include <stdexcept>

namespace fthost::model {

using backend::Tensor;
using backend::tensor_ref;

QuantizedSites::QuantizedSites(const sdk::QuantizationStrategy& strategy, std::string plugin,
                               const std::vector<sdk::LinearSite>& sites, backend::Backend& backend)
    : strategy_(strategy), plugin_(std::move(plugin)), backend_(backend), ops_(backend) {
  for (const sdk::LinearSite& linear : sites) {
    Site site;
    site.site = linear;
    bool quantized = false;
    call_plugin(&site, "quantizes", [&] {
      quantized = strategy_.quantizes(linear);
      if (quantized) site.layout = strategy_.site_layout(linear);
    });
    if (!quantized) continue;
    if (linear.is_output_head) {
      throw std::invalid_argument("quantization plugin '" + plugin_ + "' quantizes " + linear.name +
                                  ", which this build keeps dense (the chunked loss multiplies it): add it to "
                                  "skip_modules");
    }
    if (site.layout.empty()) {
      throw std::invalid_argument("quantization plugin '" + plugin_ + "' gives " + linear.name + " no stored tensors");
    }
    for (const sdk::QuantizedTensor& tensor : site.layout) {
      if (tensor.rows <= 0 || tensor.cols <= 0) {
        throw std::invalid_argument("quantization plugin '" + plugin_ + "': stored tensor " + tensor.name + " of " +
                                    linear.name + " has shape [" + std::to_string(tensor.rows) + ", " +
                                    std::to_string(tensor.cols) + "]; both extents must be positive");
      }
      site.stored.push_back(backend_.zeros(tensor.dtype, {tensor.rows, tensor.cols}));
    }
    index_by_name_[linear.name] = sites_.size();
    sites_.push_back(std::move(site));
  }
}

const QuantizedSites::Site* QuantizedSites::find(std::string_view site_name) const {
  auto found = index_by_name_.find(site_name);
  return found == index_by_name_.end() ? nullptr : &sites_[found->second];
}

const QuantizedSites::Site& QuantizedSites::site(std::string_view site_name) const {
  const Site* found = find(site_name);
  if (found == nullptr) throw std::logic_error("site " + std::string(site_name) + " is not quantized");
  return *found;
}

std::int64_t QuantizedSites::stored_bytes() const {
  std::int64_t bytes = 0;
  for (const Site& site : sites_) {
    for (const Tensor& tensor : site.stored) bytes += static_cast<std::int64_t>(tensor.nbytes());
  }
  return bytes;
}

// Whatever a plugin throws becomes an error naming the plugin, the hook and the site, raised in
// the host's frame (STYLE: no exception crosses a plugin boundary uncaught). Scratch tensors the
// hook asked for are freed when it returns.
template <typename Hook>
void QuantizedSites::call_plugin(const Site* site, const char* hook, Hook&& hook_body) const {
  try {
    hook_body();
    ops_.release_scratch();
  } catch (const std::exception& failure) {
    ops_.release_scratch();
    std::string where = site == nullptr ? "" : " at " + site->site.name;
    throw std::runtime_error("quantization plugin '" + plugin_ + "' failed in " + hook + where + ": " + failure.what());
  }
}

void QuantizedSites::quantize(std::string_view site_name, const Tensor& weight) {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  call_plugin(&target, "quantize", [&] { strategy_.quantize(target.site, tensor_ref(weight), stored, ops_); });
}

void QuantizedSites::dequantize(std::string_view site_name, const Tensor& weight) const {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  call_plugin(&target, "dequantize", [&] { strategy_.dequantize(target.site, stored, tensor_ref(weight), ops_); });
}

void QuantizedSites::forward(std::string_view site_name, const Tensor& input, const Tensor& output) const {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  call_plugin(&target, "forward",
              [&] { strategy_.forward(target.site, stored, tensor_ref(input), tensor_ref(output), ops_); });
}

void QuantizedSites::backward(std::string_view site_name, const Tensor& d_output, const Tensor& d_input) const {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  call_plugin(&target, "backward",
              [&] { strategy_.backward(target.site, stored, tensor_ref(d_output), tensor_ref(d_input), ops_); });
}

std::vector<sdk::SavedTensor> QuantizedSites::save(std::string_view site_name) const {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  std::vector<sdk::SavedTensor> saved;
  call_plugin(&target, "save", [&] { saved = strategy_.save(target.site, stored); });
  return saved;
}

bool QuantizedSites::saved_quantized(std::string_view site_name, const sdk::SavedTensorReader& saved) const {
  const Site& target = site(site_name);
  bool quantized = false;
  call_plugin(&target, "saved_quantized", [&] { quantized = strategy_.saved_quantized(target.site, saved); });
  return quantized;
}

sdk::Errors QuantizedSites::load(std::string_view site_name, const sdk::SavedTensorReader& saved) {
  const Site& target = site(site_name);
  const std::vector<sdk::TensorRef> stored = backend::tensor_refs(target.stored);
  sdk::Errors errors;
  call_plugin(&target, "load", [&] { errors = strategy_.load(target.site, saved, stored); });
  return errors;
}

std::string QuantizedSites::quantization_config_json() const {
  std::string json;
  call_plugin(nullptr, "quantization_config_json", [&] { json = strategy_.quantization_config_json(); });
  return json;
}

}  // namespace fthost::model
