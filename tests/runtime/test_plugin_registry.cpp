#include <doctest/doctest.h>

#include "fthost/runtime/plugin_registry.hpp"
#include "test_support.hpp"

using fthost::runtime::PluginRegistry;
using fthost::sdk::ErrorCategory;
using fthost::testing::install_test_plugin;
using fthost::testing::TemporaryFolder;

TEST_CASE("a valid plugin is found with its descriptor") {
  TemporaryFolder folder;
  install_test_plugin(folder, "good");
  auto registry = PluginRegistry::discover({folder.path()});
  REQUIRE(registry.ok());
  REQUIRE(registry->plugins().size() == 1);
  const auto& plugin = registry->plugins()[0];
  CHECK(plugin.name == "test_adapter");
  CHECK(plugin.version == "9.9.9");
  CHECK(plugin.kind == fthost::sdk::StrategyKind::adapter);
  CHECK(plugin.abi_major == FTHOST_SDK_ABI_MAJOR);
  CHECK(plugin.sdk_hash == FTHOST_SDK_HASH);
  CHECK(plugin.plugin->options().find("rank") != nullptr);
  CHECK(registry->rejected().empty());
}

TEST_CASE("a plugin built for another ABI is refused, naming both numbers") {
  TemporaryFolder folder;
  auto path = install_test_plugin(folder, "future_abi");
  auto loaded = fthost::runtime::load_plugin_library(path);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().category == ErrorCategory::plugin);
  std::string expected = "plugin library '" + path.string() + "' was built for fthost SDK ABI 99." +
                         std::to_string(FTHOST_SDK_ABI_MINOR) + ", but this fthost provides ABI " +
                         std::to_string(FTHOST_SDK_ABI_MAJOR) + "." + std::to_string(FTHOST_SDK_ABI_MINOR) +
                         " (rebuild the plugin against this fthost's SDK)";
  CHECK(loaded.error().message == expected);

  // Discovery skips it and remembers why, rather than failing every command.
  auto registry = PluginRegistry::discover({folder.path()});
  REQUIRE(registry.ok());
  CHECK(registry->plugins().empty());
  REQUIRE(registry->rejected().size() == 1);
  CHECK(registry->rejected()[0].reason.message == expected);
}

TEST_CASE("a plugin built from other SDK headers with the same ABI number is refused") {
  TemporaryFolder folder;
  auto path = install_test_plugin(folder, "other_headers");
  auto loaded = fthost::runtime::load_plugin_library(path);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("was built against different SDK headers (SDK hash 0123456789abcdef, this "
                                    "fthost has " FTHOST_SDK_HASH ")") != std::string::npos);
}

TEST_CASE("a library that is not a plugin is refused with the reason") {
  TemporaryFolder folder;
  auto path = install_test_plugin(folder, "not_a_plugin");
  auto loaded = fthost::runtime::load_plugin_library(path);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message == "plugin library '" + path.string() +
                                      "' is not an fthost plugin: it exports no 'fthost_plugin_entry' in section "
                                      "'fthost' (build it with FTHOST_PLUGIN(...))");
}

TEST_CASE("a file that is not a shared library is refused") {
  TemporaryFolder folder;
  folder.write("libfthost-garbage.so", "this is not an ELF file");
  auto loaded = fthost::runtime::load_plugin_library(folder.path() / "libfthost-garbage.so");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.starts_with("plugin library '" + (folder.path() / "libfthost-garbage.so").string() +
                                           "' is not a shared library this system can load"));
}

TEST_CASE("a library that fails to load reports the loader's reason") {
  TemporaryFolder folder;
  auto path = install_test_plugin(folder, "unresolved");
  auto loaded = fthost::runtime::load_plugin_library(path);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.starts_with("plugin library '" + path.string() + "' failed to load: "));
  CHECK(loaded.error().message.find("undefined symbol: fthost_test_symbol_nobody_defines") != std::string::npos);
}

TEST_CASE("a plugin that throws while describing itself is refused, naming the library and the exception") {
  TemporaryFolder folder;
  auto path = install_test_plugin(folder, "throwing_options");
  auto loaded = fthost::runtime::load_plugin_library(path);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find(path.string()) != std::string::npos);
  CHECK(loaded.error().message.find("threw while describing itself: options() exploded") != std::string::npos);
}

TEST_CASE("two plugins with one name are an error naming both files") {
  TemporaryFolder first;
  TemporaryFolder second;
  auto first_path = install_test_plugin(first, "good");
  auto second_path = install_test_plugin(second, "good", "libfthost-good_copy.so");
  auto registry = PluginRegistry::discover({first.path(), second.path()});
  REQUIRE_FALSE(registry.ok());
  CHECK(registry.error().category == ErrorCategory::plugin);
  CHECK(registry.error().message == "two plugins are named 'test_adapter': '" + first_path.string() + "' and '" +
                                        second_path.string() +
                                        "' (remove one, or take one folder out of FTHOST_PLUGIN_PATH)");
}

TEST_CASE("the same folder listed twice is not a duplicate") {
  TemporaryFolder folder;
  install_test_plugin(folder, "good");
  auto registry = PluginRegistry::discover({folder.path(), folder.path()});
  REQUIRE(registry.ok());
  CHECK(registry->plugins().size() == 1);
}

TEST_CASE("only libfthost-*.so files are considered") {
  TemporaryFolder folder;
  install_test_plugin(folder, "good", "libother-good.so");
  auto registry = PluginRegistry::discover({folder.path()});
  REQUIRE(registry.ok());
  CHECK(registry->plugins().empty());
  CHECK(registry->rejected().empty());
}

TEST_CASE("a missing plugin lists those installed of its kind and suggests the closest") {
  TemporaryFolder folder;
  install_test_plugin(folder, "good");
  install_test_plugin(folder, "other_name");
  auto registry = PluginRegistry::discover({folder.path()});
  REQUIRE(registry.ok());
  auto error = registry->missing_plugin_error("test_adaptr", fthost::sdk::StrategyKind::adapter);
  CHECK(error.message == "no adapter plugin named 'test_adaptr' is installed (did you mean 'test_adapter'?); "
                         "installed adapter plugins: test_adapter, test_other");
  auto none = registry->missing_plugin_error("zero", fthost::sdk::StrategyKind::sharding);
  CHECK(none.message == "no sharding plugin named 'zero' is installed; no sharding plugins are installed");
}

TEST_CASE("a missing plugin whose library was rejected says why") {
  TemporaryFolder folder;
  install_test_plugin(folder, "future_abi", "libfthost-lora.so");
  auto registry = PluginRegistry::discover({folder.path()});
  REQUIRE(registry.ok());
  auto error = registry->missing_plugin_error("lora", fthost::sdk::StrategyKind::adapter);
  CHECK(error.message.starts_with("no adapter plugin named 'lora' is installed; plugin library '"));
  CHECK(error.message.find("was built for fthost SDK ABI 99.") != std::string::npos);
}

TEST_CASE("FTHOST_PLUGIN_PATH folders come first, in order") {
  setenv("FTHOST_PLUGIN_PATH", "/first:/second::/third", 1);
  auto path = fthost::runtime::default_plugin_search_path();
  unsetenv("FTHOST_PLUGIN_PATH");
  REQUIRE(path.size() >= 4);
  CHECK(path[0] == "/first");
  CHECK(path[1] == "/second");
  CHECK(path[2] == "/third");
  // Never the current folder implicitly.
  for (const auto& folder : path) CHECK(folder != std::filesystem::path("."));
}
