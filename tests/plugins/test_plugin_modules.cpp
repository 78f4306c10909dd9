// Loads each built plugin module the way the host does (Boost.DLL alias, RTLD_NOW) and checks that
// its descriptor agrees with the C++ plugin behind it and that create() works on default options.
#include <doctest/doctest.h>

#include <boost/dll/shared_library.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "fthost/sdk/plugin.hpp"
#include "strategy_test_support.hpp"

namespace {

class SilentContext final : public fthost::sdk::Context {
 public:
  void log(fthost::sdk::LogLevel /*level*/, std::string_view /*message*/) const override {}
  fthost::sdk::BackendKind backend() const override { return fthost::sdk::BackendKind::cpu; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::uint64_t seed() const override { return 1234; }
};

std::filesystem::path plugin_file(const std::string& name) {
  return std::filesystem::path(FTHOST_TEST_BUILD_PLUGIN_DIR) / ("libfthost-" + name + ".so");
}

}  // namespace

TEST_CASE("each bundled plugin module describes itself and creates its strategy from default options") {
  struct Expected {
    const char* name;
    fthost::sdk::StrategyKind kind;
  };
  const Expected bundled[] = {
      {"precision", fthost::sdk::StrategyKind::precision},    {"quant_int8", fthost::sdk::StrategyKind::quantization},
      {"quant_nf4", fthost::sdk::StrategyKind::quantization}, {"lora", fthost::sdk::StrategyKind::adapter},
      {"zero", fthost::sdk::StrategyKind::sharding},          {"megatron", fthost::sdk::StrategyKind::parallelism},
  };
  for (const Expected& expected : bundled) {
    std::string name = expected.name;
    CAPTURE(name);
    boost::dll::shared_library library(plugin_file(name),
                                       boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    REQUIRE(library.has(FTHOST_PLUGIN_ENTRY_NAME));
    const fthost_plugin_descriptor* descriptor =
        library.get_alias<const fthost_plugin_descriptor*()>(FTHOST_PLUGIN_ENTRY_NAME)();
    REQUIRE(descriptor != nullptr);
    CHECK(descriptor->struct_size == sizeof(fthost_plugin_descriptor));
    CHECK(descriptor->abi_major == FTHOST_SDK_ABI_MAJOR);
    CHECK(std::string(descriptor->sdk_hash) == FTHOST_SDK_HASH);
    CHECK(std::string(descriptor->name) == name);
    CHECK(std::string(descriptor->kind) == to_string(expected.kind));

    // The library stays loaded (library outlives this scope's strategy) until the end of the iteration.
    auto* plugin = static_cast<const fthost::sdk::Plugin*>(descriptor->instance());
    REQUIRE(plugin != nullptr);
    CHECK(plugin->kind() == expected.kind);
    CHECK_FALSE(plugin->options().specs().empty());
    CHECK_FALSE(plugin->status().empty());
    for (const fthost::sdk::OptionSpec& spec : plugin->options().specs()) {
      CAPTURE(spec.name);
      CHECK_FALSE(spec.doc.empty());
      CHECK(spec.default_value.has_value());
    }

    SilentContext context;
    fthost::sdk::Result<std::unique_ptr<fthost::sdk::Strategy>> strategy =
        fthost::sdk::create_strategy_safely(*plugin, fthost::testing::options_from(plugin->options()), context);
    REQUIRE(strategy.ok());
    CHECK((*strategy)->kind() == expected.kind);
    CHECK_FALSE((*strategy)->describe_plan({}).empty());
  }
}

TEST_CASE("a plugin given options without its keys returns an internal error instead of throwing") {
  boost::dll::shared_library library(plugin_file("lora"), boost::dll::load_mode::rtld_now);
  const fthost_plugin_descriptor* descriptor =
      library.get_alias<const fthost_plugin_descriptor*()>(FTHOST_PLUGIN_ENTRY_NAME)();
  auto* plugin = static_cast<const fthost::sdk::Plugin*>(descriptor->instance());
  SilentContext context;
  fthost::sdk::Result<std::unique_ptr<fthost::sdk::Strategy>> strategy =
      plugin->create(fthost::sdk::Options{}, context);
  REQUIRE_FALSE(strategy.ok());
  CHECK(strategy.error().category == fthost::sdk::ErrorCategory::internal);
  CHECK(strategy.error().message.find("cannot read its options") != std::string::npos);
}
