// A minimal, valid adapter plugin for the loader tests. Compiled several times with different
// definitions to make the broken variants the loader must refuse:
//   FTHOST_TEST_ABI_MAJOR   pretend to be built for another SDK ABI
//   FTHOST_TEST_SDK_HASH    pretend to be built from other SDK headers
//   FTHOST_TEST_NAME        the plugin's name (default "test_adapter")
//   FTHOST_TEST_UNRESOLVED  reference a symbol nothing defines, so loading with RTLD_NOW fails
//   FTHOST_TEST_THROWING_OPTIONS  throw from options(), which the host calls before trusting a plugin
#include <stdexcept>

#include <fthost/sdk.hpp>

#ifdef FTHOST_TEST_ABI_MAJOR
#undef FTHOST_SDK_ABI_MAJOR
#define FTHOST_SDK_ABI_MAJOR FTHOST_TEST_ABI_MAJOR
#endif
#ifdef FTHOST_TEST_SDK_HASH
#undef FTHOST_SDK_HASH
#define FTHOST_SDK_HASH FTHOST_TEST_SDK_HASH
#endif
#ifndef FTHOST_TEST_NAME
#define FTHOST_TEST_NAME "test_adapter"
#endif

#ifdef FTHOST_TEST_UNRESOLVED
extern "C" int fthost_test_symbol_nobody_defines();
int force_reference = fthost_test_symbol_nobody_defines();
#endif

namespace {

class TestAdapter final : public fthost::sdk::AdapterStrategy {
 public:
  TestAdapter(std::int64_t rank, bool throw_on_check) : rank_(rank), throw_on_check_(throw_on_check) {}
  fthost::sdk::Errors check(const fthost::sdk::PipelineFacts&) const override {
    if (throw_on_check_) throw std::runtime_error("check() exploded");
    return {};
  }
  std::vector<std::string> describe_plan(const fthost::sdk::PipelineFacts&) const override {
    return {"test adapter of rank " + std::to_string(rank_)};
  }
  bool targets(const fthost::sdk::LinearSite& site) const override { return site.leaf_name() == "q_proj"; }
  std::int64_t trainable_parameters(const fthost::sdk::LinearSite& site) const override {
    return rank_ * (site.in_features + site.out_features);
  }
  // Registry and validation tests never train with this plugin; the hooks say so if one ever does.
  fthost::sdk::SiteAdapterLayout site_layout(const fthost::sdk::LinearSite&) const override { return {}; }
  void initialize(const fthost::sdk::LinearSite&, const fthost::sdk::SiteAdapterTensors&, std::uint64_t,
                  fthost::sdk::Ops&) const override {
    throw std::logic_error("test_adapter does not train");
  }
  void forward(const fthost::sdk::LinearSite&, const fthost::sdk::SiteAdapterTensors&, const fthost::sdk::TensorRef&,
               const fthost::sdk::TensorRef&, const fthost::sdk::AdapterPass&, fthost::sdk::Ops&) const override {
    throw std::logic_error("test_adapter does not train");
  }
  void backward(const fthost::sdk::LinearSite&, const fthost::sdk::SiteAdapterTensors&, const fthost::sdk::TensorRef&,
                const fthost::sdk::TensorRef&, const fthost::sdk::TensorRef&, const fthost::sdk::AdapterPass&,
                fthost::sdk::Ops&) const override {
    throw std::logic_error("test_adapter does not train");
  }
  void merge(const fthost::sdk::LinearSite&, const fthost::sdk::SiteAdapterTensors&, const fthost::sdk::TensorRef&,
             fthost::sdk::Ops&) const override {
    throw std::logic_error("test_adapter does not train");
  }
  std::string saved_tensor_name(const fthost::sdk::LinearSite& site,
                                const fthost::sdk::AdapterTensor& tensor) const override {
    return site.name + "." + tensor.name;
  }
  std::string adapter_config_json(std::string_view) const override { return "{}"; }
  std::vector<std::string> modules_to_save() const override { return {}; }
  std::string saved_module_tensor_name(std::string_view parameter) const override { return std::string(parameter); }

 private:
  std::int64_t rank_;
  bool throw_on_check_;
};

class TestAdapterPlugin final : public fthost::sdk::Plugin {
 public:
  TestAdapterPlugin() {
    schema_.add_int("rank", 4, "adapter rank").at_least(1);
    schema_.add_float("alpha", 8.0, "scale numerator").alias("lora_alpha");
    schema_.add_enum("mode", "fast", {"fast", "exact"}, "how to compute");
    schema_.add_string_list("targets", {"q_proj"}, "module suffixes");
    schema_.add_bool("nested.flag", false, "a nested option");
    schema_.add_int("throw_on_create", 0, "1: throw from create(), to test the host's guard").range(0, 1);
    schema_.add_bool("throw_on_check", false, "throw from check(), to test the host's guard");
  }
  fthost::sdk::StrategyKind kind() const override { return fthost::sdk::StrategyKind::adapter; }
  const fthost::sdk::OptionSchema& options() const override {
#ifdef FTHOST_TEST_THROWING_OPTIONS
    throw std::runtime_error("options() exploded");
#endif
    return schema_;
  }
  std::string status() const override { return "test plugin: works everywhere"; }
  fthost::sdk::Result<std::unique_ptr<fthost::sdk::Strategy>> create(const fthost::sdk::Options& options,
                                                                     fthost::sdk::Context&) const override {
    if (options.get_int("throw_on_create") == 1) throw std::runtime_error("create() exploded");
    return std::unique_ptr<fthost::sdk::Strategy>(
        std::make_unique<TestAdapter>(options.get_int("rank"), options.get_bool("throw_on_check")));
  }

 private:
  fthost::sdk::OptionSchema schema_;
};

}  // namespace

FTHOST_PLUGIN(TestAdapterPlugin, FTHOST_TEST_NAME, "9.9.9", adapter, "adapter used by the loader tests")
