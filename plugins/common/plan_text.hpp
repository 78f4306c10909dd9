#pragma once
// Text helpers for the lines the bundled plugins print in describe_plan() and in error messages.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/options.hpp"

namespace fthost::plugins {

// {"q_proj", "v_proj"} -> "q_proj, v_proj"
inline std::string join_names(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

// 4194304 -> "4,194,304": the grouping PEFT's print_trainable_parameters uses, so the numbers can be
// compared by eye.
inline std::string format_count(std::int64_t count) {
  std::string digits = std::to_string(count < 0 ? -count : count);
  std::string grouped;
  for (std::size_t index = 0; index < digits.size(); ++index) {
    if (index != 0 && (digits.size() - index) % 3 == 0) grouped += ',';
    grouped += digits[index];
  }
  return count < 0 ? "-" + grouped : grouped;
}

// 2.0 -> "2.0", 0.05 -> "0.05": a number as a user writes it in YAML.
inline std::string format_decimal(double value) { return sdk::format_option_value(value); }

// 16.0 -> "16", 0.5 -> "0.5": for options users usually write as whole numbers (lora_alpha).
inline std::string format_whole_or_decimal(double value) {
  if (std::fabs(value) < 1e15 && std::trunc(value) == value) return std::to_string(static_cast<std::int64_t>(value));
  return format_decimal(value);
}

// Bytes as "3.34 GiB".
// GiB with two decimals; below 1 GiB in MiB, so small models do not read "0.00 GiB".
inline std::string format_gibibytes(double bytes) {
  char buffer[48];
  if (bytes < 1024.0 * 1024.0 * 1024.0) {
    std::snprintf(buffer, sizeof buffer, "%.2f MiB", bytes / (1024.0 * 1024.0));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  }
  return buffer;
}

}  // namespace fthost::plugins
