// An example adapter plugin written against the installed fthost SDK alone: IA3 (Liu et al.
// 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
// Learning") learns one scaling vector per targeted linear. This example answers the adapter
// planning questions (which sites, how many trainable parameters) and reports that training with it
// is not implemented: IA3 multiplies a layer's output, and SDK ABI 3.0's adapter hooks are
// additive (output += adapter(input), as LoRA needs); multiplicative adapters need a later hook.

#include <fthost/sdk.hpp>

#include <stdexcept>

namespace {

using namespace fthost::sdk;

class Ia3Adapter final : public AdapterStrategy {
 public:
  Ia3Adapter(std::vector<std::string> target_modules, std::vector<std::string> feedforward_modules)
      : target_modules_(std::move(target_modules)), feedforward_modules_(std::move(feedforward_modules)) {}

  Errors check(const PipelineFacts&) const override {
    return {Error::not_implemented("ia3_example is an SDK example: it plans but does not train")};
  }

  std::vector<std::string> describe_plan(const PipelineFacts& facts) const override {
    std::int64_t sites = 0;
    std::int64_t parameters = 0;
    for (const LinearSite& site : facts.sites) {
      if (!targets(site)) continue;
      ++sites;
      parameters += trainable_parameters(site);
    }
    return {"ia3_example: scaling vectors on " + std::to_string(sites) + " sites, " + std::to_string(parameters) +
            " trainable parameters"};
  }

  bool targets(const LinearSite& site) const override {
    for (const std::string& target : target_modules_) {
      if (site_name_matches(site.name, target)) return true;
    }
    return false;
  }

  // Feed-forward sites scale their input, the others their output (the IA3 paper's l_ff vs l_k, l_v).
  std::int64_t trainable_parameters(const LinearSite& site) const override {
    if (!targets(site)) return 0;
    for (const std::string& feedforward : feedforward_modules_) {
      if (site_name_matches(site.name, feedforward)) return site.in_features;
    }
    return site.out_features;
  }

  // check() refuses every pipeline, so the host never calls these; they say why if it does.
  SiteAdapterLayout site_layout(const LinearSite&) const override { return {}; }
  void initialize(const LinearSite&, const SiteAdapterTensors&, std::uint64_t, Ops&) const override { refuse(); }
  void forward(const LinearSite&, const SiteAdapterTensors&, const TensorRef&, const TensorRef&, const AdapterPass&,
               Ops&) const override {
    refuse();
  }
  void backward(const LinearSite&, const SiteAdapterTensors&, const TensorRef&, const TensorRef&, const TensorRef&,
                const AdapterPass&, Ops&) const override {
    refuse();
  }
  void merge(const LinearSite&, const SiteAdapterTensors&, const TensorRef&, Ops&) const override { refuse(); }
  // PEFT's key for IA3's vector: base_model.model.<module>.ia3_l
  std::string saved_tensor_name(const LinearSite& site, const AdapterTensor& tensor) const override {
    return "base_model.model." + site.name + "." + tensor.name;
  }
  std::string adapter_config_json(std::string_view) const override { return R"({"peft_type": "IA3"})"; }
  std::vector<std::string> modules_to_save() const override { return {}; }
  std::string saved_module_tensor_name(std::string_view parameter) const override {
    return "base_model.model." + std::string(parameter);
  }

 private:
  [[noreturn]] static void refuse() { throw std::logic_error("ia3_example does not train"); }

  std::vector<std::string> target_modules_;
  std::vector<std::string> feedforward_modules_;
};

class Ia3Plugin final : public Plugin {
 public:
  Ia3Plugin() {
    schema_.add_string_list("target_modules", {"k_proj", "v_proj", "down_proj"}, "modules that get a scaling vector");
    schema_.add_string_list("feedforward_modules", {"down_proj"}, "targets whose input (not output) is scaled");
  }
  StrategyKind kind() const override { return StrategyKind::adapter; }
  const OptionSchema& options() const override { return schema_; }
  std::string status() const override { return "SDK example: validates and plans; does not train."; }
  Result<std::unique_ptr<Strategy>> create(const Options& options, Context&) const override {
    return std::unique_ptr<Strategy>(std::make_unique<Ia3Adapter>(options.get_string_list("target_modules"),
                                                                  options.get_string_list("feedforward_modules")));
  }

 private:
  OptionSchema schema_;
};

}  // namespace

FTHOST_PLUGIN(Ia3Plugin, "ia3_example", "0.1.0", adapter, "IA3 scaling vectors (out-of-tree SDK example)")
