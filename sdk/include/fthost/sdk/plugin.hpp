#pragma once
// What a plugin library exports, and the one macro a plugin author writes:
//
//   class LoraPlugin final : public fthost::sdk::Plugin { ... };
//   FTHOST_PLUGIN(LoraPlugin, "lora", "0.1.0", adapter, "PEFT-compatible LoRA adapters")
//
// The macro exports a plain-C descriptor (abi.h) under a Boost.DLL alias in the "fthost" section;
// the host checks it before touching the C++ object behind it.

#include <exception>
#include <memory>
#include <string>

#include <boost/dll/alias.hpp>

#include "fthost/sdk/abi.h"
#include "fthost/sdk/context.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/options.hpp"
#include "fthost/sdk/sdk_hash.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::sdk {

class Plugin {
 public:
  virtual ~Plugin() = default;

  virtual StrategyKind kind() const = 0;
  virtual const OptionSchema& options() const = 0;

  // One short paragraph for `plugins describe`: what works today and on which backends.
  virtual std::string status() const = 0;

  // Builds the strategy for validated options. Must not throw: return an Error instead
  // (create_strategy_safely wraps this for the host).
  virtual Result<std::unique_ptr<Strategy>> create(const Options& options, Context& context) const = 0;
};

// The host calls plugins through this so that an exception a plugin forgot to catch becomes an
// Error in the plugin's own frame, rather than unwinding across the library boundary.
inline Result<std::unique_ptr<Strategy>> create_strategy_safely(const Plugin& plugin, const Options& options,
                                                                Context& context) noexcept {
  try {
    return plugin.create(options, context);
  } catch (const std::exception& failure) {
    return Error::internal(std::string("plugin threw while creating its strategy: ") + failure.what());
  } catch (...) {
    return Error::internal("plugin threw a non-standard exception while creating its strategy");
  }
}

}  // namespace fthost::sdk

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define FTHOST_SDK_CXX_RUNTIME_STRING_ (_GLIBCXX_USE_CXX11_ABI ? "libstdc++ cxx11-abi=1" : "libstdc++ cxx11-abi=0")
#elif defined(_LIBCPP_VERSION)
#define FTHOST_SDK_CXX_RUNTIME_STRING_ "libc++"
#else
#define FTHOST_SDK_CXX_RUNTIME_STRING_ "unknown"
#endif

#define FTHOST_SDK_STRINGIFY_INNER_(x) #x
#define FTHOST_SDK_STRINGIFY_(x) FTHOST_SDK_STRINGIFY_INNER_(x)

#if defined(__clang__)
#define FTHOST_SDK_COMPILER_STRING_ "clang " __clang_version__
#elif defined(__GNUC__)
#define FTHOST_SDK_COMPILER_STRING_ "gcc " __VERSION__
#else
#define FTHOST_SDK_COMPILER_STRING_ "unknown compiler"
#endif

// KIND is one of: precision, quantization, adapter, sharding, parallelism.
#define FTHOST_PLUGIN(PLUGIN_CLASS, NAME, VERSION, KIND, SUMMARY)                                        \
  namespace fthost_plugin_export_ {                                                                       \
  static_assert(::fthost::sdk::StrategyKind::KIND == ::fthost::sdk::StrategyKind::KIND,                    \
                "KIND must name a fthost::sdk::StrategyKind");                                             \
  static void* instance() {                                                                               \
    static PLUGIN_CLASS plugin;                                                                           \
    return static_cast<::fthost::sdk::Plugin*>(&plugin);                                                  \
  }                                                                                                       \
  static const ::fthost_plugin_descriptor descriptor = {                                                  \
      sizeof(::fthost_plugin_descriptor), FTHOST_SDK_ABI_MAJOR,  FTHOST_SDK_ABI_MINOR,                      \
      FTHOST_SDK_HASH,                    FTHOST_SDK_CXX_RUNTIME_STRING_, FTHOST_SDK_COMPILER_STRING_,       \
      NAME,                               VERSION,               #KIND,                                   \
      SUMMARY,                            &instance};                                                     \
  static const ::fthost_plugin_descriptor* entry() { return &descriptor; }                                \
  }                                                                                                       \
  BOOST_DLL_ALIAS_SECTIONED(fthost_plugin_export_::entry, fthost_plugin_entry, fthost)
