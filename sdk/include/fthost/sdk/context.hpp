#pragma once
// The host services a plugin may use. Plugins reach the host only through this interface; each
// SDK version that adds a service bumps FTHOST_SDK_ABI_MINOR (appending) or MAJOR (changing).

#include <cstdint>
#include <string>
#include <string_view>

namespace fthost::sdk {

enum class LogLevel { trace, debug, info, warn, error };

enum class BackendKind { cpu, cuda };

inline std::string_view to_string(BackendKind backend) {
  return backend == BackendKind::cpu ? "cpu" : "cuda";
}

class Context {
 public:
  virtual ~Context() = default;

  // Logs through the host's logger, prefixed with the plugin's name.
  virtual void log(LogLevel level, std::string_view message) const = 0;

  virtual BackendKind backend() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Deterministic per-run seed; plugins derive their RNG streams from it.
  virtual std::uint64_t seed() const = 0;
};

}  // namespace fthost::sdk
