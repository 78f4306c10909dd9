#pragma once
// Errors are values that carry their context until they reach the CLI, which prints one line per
// error and picks the exit code from the category. No exception crosses the plugin boundary.

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fthost::sdk {

enum class ErrorCategory {
  invalid_input,    // the user's YAML, files or options are wrong (exit code 2)
  plugin,           // a plugin is missing, broken or built for another SDK (exit code 3)
  not_implemented,  // asked for something this build cannot do yet or on this backend (exit code 4)
  internal,         // a bug in fthost or a plugin (exit code 1)
};

struct Error {
  ErrorCategory category = ErrorCategory::internal;
  std::string message;  // one line, already naming the file, key, tensor or rank it is about

  static Error invalid_input(std::string message) { return {ErrorCategory::invalid_input, std::move(message)}; }
  static Error plugin(std::string message) { return {ErrorCategory::plugin, std::move(message)}; }
  static Error not_implemented(std::string message) { return {ErrorCategory::not_implemented, std::move(message)}; }
  static Error internal(std::string message) { return {ErrorCategory::internal, std::move(message)}; }
};

using Errors = std::vector<Error>;

// A value or the error that prevented it.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor): return a value as a Result
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace fthost::sdk
