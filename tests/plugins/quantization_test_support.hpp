#pragma once
// What tests/plugins/test_quant_int8_kernels.cpp and test_quant_nf4_kernels.cpp share: strategies
// from options, the bitsandbytes fixtures, calling the hooks as the host does (PluginOps over the
// CPU backend) and in-memory / folder-backed readers of saved tensors.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <numbers>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/float16.hpp"
#include "backend/plugin_ops.hpp"
#include "model/safetensors.hpp"
#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "strategy_test_support.hpp"

namespace fthost::testing::quantization {

using fthost::backend::round_to_bf16;
using fthost::backend::round_to_f16;
using fthost::backend::Tensor;
using fthost::backend::tensor_ref;
using fthost::model::SafetensorsFile;
using fthost::plugins::Int8QuantizationStrategy;
using fthost::plugins::Nf4QuantizationStrategy;
using fthost::sdk::DType;
using fthost::sdk::ErrorCategory;
using fthost::sdk::LinearSite;
using fthost::sdk::QuantizationStrategy;
using fthost::sdk::SavedTensor;
using fthost::sdk::SavedTensorView;
using fthost::sdk::TensorRef;
using fthost::testing::has_error;
using fthost::testing::linear_site;
using fthost::testing::options_from;


using Overrides = std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>>;

inline Nf4QuantizationStrategy nf4_with(Overrides overrides = {}) {
  return Nf4QuantizationStrategy(options_from(fthost::plugins::quant_nf4_option_schema(), overrides));
}

inline Int8QuantizationStrategy int8_with(Overrides overrides = {}) {
  return Int8QuantizationStrategy(options_from(fthost::plugins::quant_int8_option_schema(), overrides));
}

inline SafetensorsFile open_fixture(const std::string& name) {
  auto file = SafetensorsFile::open(std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests/fixtures/bnb" / name);
  REQUIRE_MESSAGE(file.ok(), "fixture missing: " << name);
  return std::move(file).value();
}

template <typename T>
inline std::vector<T> values_of(const SafetensorsFile& file, const std::string& name) {
  const fthost::model::SafetensorsTensor* tensor = file.find(name);
  REQUIRE_MESSAGE(tensor != nullptr, "fixture tensor missing: " << name);
  std::vector<T> values(static_cast<std::size_t>(tensor->element_count()));
  REQUIRE(tensor->bytes.size() == values.size() * sizeof(T));
  std::memcpy(values.data(), tensor->bytes.data(), tensor->bytes.size());
  return values;
}

inline std::vector<float> f16_values_of(const SafetensorsFile& file, const std::string& name) {
  std::vector<float> values;
  for (std::uint16_t bits : values_of<std::uint16_t>(file, name)) {
    values.push_back(fthost::backend::f16_bits_to_float(bits));
  }
  return values;
}

inline double wide(float value) { return static_cast<double>(value); }

// The spacing of f16 values at |value| (2^-24 below f16's normal range).
inline double f16_ulp(double value) {
  const double magnitude = std::fabs(value);
  return magnitude < 0x1p-14 ? 0x1p-24 : std::ldexp(1.0, std::ilogb(magnitude) - 10);
}

// Standard normal values from std::mt19937_64 by Box-Muller: std::normal_distribution's algorithm
// differs between standard libraries, mt19937_64's sequence is fixed by the standard.
inline std::vector<float> standard_normal(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  auto uniform = [&] { return (static_cast<double>(generator() >> 11) + 0.5) * 0x1p-53; };  // in (0, 1)
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    values[i] = static_cast<float>(radius * std::cos(angle));
    if (i + 1 < count) values[i + 1] = static_cast<float>(radius * std::sin(angle));
  }
  return values;
}

// The host's side of a quantized site: the CPU backend, the Ops plugins compute through, and
// the site's stored tensors allocated from site_layout().
struct Host {
  std::unique_ptr<fthost::backend::Backend> backend = fthost::backend::make_cpu_backend();
  fthost::backend::PluginOps ops{*backend};

  Tensor matrix(const std::vector<float>& values, std::int64_t cols) {
    Tensor tensor = backend->empty(DType::f32, {static_cast<std::int64_t>(values.size()) / cols, cols});
    std::memcpy(tensor.raw(), values.data(), values.size() * sizeof(float));
    return tensor;
  }
};

struct Stored {
  std::vector<Tensor> tensors;
  std::vector<TensorRef> refs;

  template <typename T>
  std::vector<T> values(std::size_t index) const {
    const T* data = tensors.at(index).data<T>();
    return {data, data + tensors[index].numel()};
  }
  std::span<const std::byte> bytes(std::size_t index) const {
    return {tensors.at(index).raw(), tensors[index].nbytes()};
  }
  template <typename T>
  void assign(std::size_t index, const std::vector<T>& values) {
    REQUIRE(values.size() * sizeof(T) == tensors.at(index).nbytes());
    std::memcpy(tensors[index].raw(), values.data(), tensors[index].nbytes());
  }
};

inline Stored allocate(Host& host, const QuantizationStrategy& strategy, const LinearSite& site) {
  Stored stored;
  for (const fthost::sdk::QuantizedTensor& layout : strategy.site_layout(site)) {
    stored.tensors.push_back(host.backend->empty(layout.dtype, {layout.rows, layout.cols}));
    stored.refs.push_back(tensor_ref(stored.tensors.back()));
  }
  return stored;
}

// The hooks, each followed by what the host does after a hook (freeing the plugin's scratch).
inline Stored quantize(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                const std::vector<float>& weight) {
  Stored stored = allocate(host, strategy, site);
  const Tensor dense = host.matrix(weight, site.in_features);
  strategy.quantize(site, tensor_ref(dense), stored.refs, host.ops);
  host.ops.release_scratch();
  return stored;
}

inline std::vector<float> dequantize(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                              const Stored& stored) {
  Tensor weight = host.backend->empty(DType::f32, {site.out_features, site.in_features});
  strategy.dequantize(site, stored.refs, tensor_ref(weight), host.ops);
  host.ops.release_scratch();
  return {weight.f32(), weight.f32() + weight.numel()};
}

inline std::vector<float> forward(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                           const Stored& stored, const std::vector<float>& input) {
  const Tensor x = host.matrix(input, site.in_features);
  Tensor y = host.backend->empty(DType::f32, {x.dim(0), site.out_features});
  strategy.forward(site, stored.refs, tensor_ref(x), tensor_ref(y), host.ops);
  host.ops.release_scratch();
  return {y.f32(), y.f32() + y.numel()};
}

// d_input += d_output @ weight, into `d_input` (the caller's starting values).
inline void backward(Host& host, const QuantizationStrategy& strategy, const LinearSite& site, const Stored& stored,
              const std::vector<float>& d_output, std::vector<float>& d_input) {
  const Tensor dy = host.matrix(d_output, site.out_features);
  Tensor dx = host.matrix(d_input, site.in_features);
  strategy.backward(site, stored.refs, tensor_ref(dy), tensor_ref(dx), host.ops);
  host.ops.release_scratch();
  std::memcpy(d_input.data(), dx.raw(), dx.nbytes());
}


// bitsandbytes' test_4bit_quant measures err = mean |A - A'| and relerr = mean(|A - A'| / (|A| + 1e-8)).
struct RoundTripError {
  double mean_absolute = 0.0;
  double mean_relative = 0.0;
};

inline RoundTripError round_trip_error(Host& host, const QuantizationStrategy& strategy, const LinearSite& site,
                                const std::vector<float>& weight) {
  const std::vector<float> restored = dequantize(host, strategy, site, quantize(host, strategy, site, weight));
  RoundTripError error;
  for (std::size_t i = 0; i < weight.size(); ++i) {
    const double difference = std::fabs(wide(weight[i]) - wide(restored[i]));
    error.mean_absolute += difference;
    error.mean_relative += difference / (std::fabs(wide(weight[i])) + 1e-8);
  }
  error.mean_absolute /= static_cast<double>(weight.size());
  error.mean_relative /= static_cast<double>(weight.size());
  return error;
}

// A site's saved tensors held in memory, as a model folder's reader hands them to load().
class MemorySite final : public fthost::sdk::SavedTensorReader {
 public:
  explicit MemorySite(std::vector<SavedTensor> tensors) : tensors_(std::move(tensors)) {}

  std::optional<SavedTensorView> find(std::string_view name) const override {
    for (const SavedTensor& tensor : tensors_) {
      if (tensor.name == name) return SavedTensorView{tensor.dtype, tensor.shape, tensor.bytes};
    }
    return std::nullopt;
  }
  std::string source() const override { return "memory/model.safetensors"; }

  SavedTensor& at(std::string_view name) {
    auto found = std::ranges::find(tensors_, name, &SavedTensor::name);
    REQUIRE_MESSAGE(found != tensors_.end(), "no saved tensor " << std::string(name));
    return *found;
  }
  void erase(std::string_view name) {
    std::erase_if(tensors_, [&](const SavedTensor& tensor) { return tensor.name == name; });
  }

 private:
  std::vector<SavedTensor> tensors_;
};

// One site of a model folder's safetensors file (names relative to the site).
class FolderSite final : public fthost::sdk::SavedTensorReader {
 public:
  FolderSite(const SafetensorsFile& file, const std::string& site) : file_(file), prefix_(site + ".") {}

  std::optional<SavedTensorView> find(std::string_view name) const override {
    const fthost::model::SafetensorsTensor* tensor = file_.find(prefix_ + std::string(name));
    if (tensor == nullptr) return std::nullopt;
    return SavedTensorView{tensor->dtype, tensor->shape, tensor->bytes};
  }
  std::string source() const override { return file_.path().string(); }

  std::set<std::string> names() const {
    std::set<std::string> names;
    for (const fthost::model::SafetensorsTensor& tensor : file_.tensors()) {
      if (tensor.name.starts_with(prefix_)) names.insert(tensor.name.substr(prefix_.size()));
    }
    return names;
  }

 private:
  const SafetensorsFile& file_;
  std::string prefix_;
};

inline nlohmann::json quant_state(const fthost::sdk::SavedTensorReader& saved, const std::string& key) {
  std::optional<SavedTensorView> view = saved.find(key);
  REQUIRE_MESSAGE(view.has_value(), "no saved tensor " << key);
  return nlohmann::json::parse(std::string(reinterpret_cast<const char*>(view->bytes.data()), view->bytes.size()));
}

inline std::string messages(const fthost::sdk::Errors& errors) {
  std::string text;
  for (const fthost::sdk::Error& error : errors) text += error.message + "\n";
  return text;
}

// Loads layer 0's q_proj [64, 64] from a tiny Llama folder bitsandbytes saved
// (tests/fixtures/bnb/<folder>), saves it again and compares every tensor with the folder's:
// names, dtypes, shapes and bytes (the quant state's JSON text included).
inline void check_resave(const std::string& folder, const QuantizationStrategy& strategy) {
  const SafetensorsFile file = open_fixture(folder + "/model.safetensors");
  const LinearSite site = linear_site("model.layers.0.self_attn.q_proj", 64, 64);
  const FolderSite saved(file, site.name);
  CHECK(strategy.saved_quantized(site, saved));
  Host host;
  Stored stored = allocate(host, strategy, site);
  const fthost::sdk::Errors errors = strategy.load(site, saved, stored.refs);
  CHECK_MESSAGE(errors.empty(), messages(errors));
  std::set<std::string> names;
  for (const SavedTensor& tensor : strategy.save(site, stored.refs)) {
    CAPTURE(tensor.name);
    names.insert(tensor.name);
    const std::optional<SavedTensorView> theirs = saved.find(tensor.name);
    REQUIRE(theirs.has_value());
    CHECK(tensor.dtype == theirs->dtype);
    CHECK(std::ranges::equal(tensor.shape, theirs->shape));
    CHECK(std::ranges::equal(tensor.bytes, theirs->bytes));
  }
  CHECK(names == saved.names());
}

// True when `stored` holds byte for byte what `restored` holds, tensor by tensor.
inline bool same_bytes(const Stored& stored, const Stored& restored) {
  if (stored.tensors.size() != restored.tensors.size()) return false;
  for (std::size_t i = 0; i < stored.tensors.size(); ++i) {
    if (!std::ranges::equal(stored.bytes(i), restored.bytes(i))) return false;
  }
  return true;
}

}  // namespace fthost::testing::quantization
