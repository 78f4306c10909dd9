#include "option_printer.hpp"

#include <algorithm>
#include <ostream>
#include <string>

#include "fthost/runtime/option_validation.hpp"
#include "fthost/runtime/suggest.hpp"

namespace fthost::cli {
namespace {

std::string constraint_text(const sdk::OptionSpec& spec) {
  if (spec.type == sdk::OptionType::enumeration) return "one of: " + runtime::join(spec.allowed, " | ");
  std::string range = runtime::describe_range(spec);
  if (range.starts_with("in ")) range.erase(0, 3);
  return range.empty() ? "" : "range " + range;
}

}  // namespace

void print_option_schema(std::ostream& out, const sdk::OptionSchema& schema) {
  std::size_t name_width = 4;
  for (const sdk::OptionSpec& spec : schema.specs()) name_width = std::max(name_width, spec.name.size());
  for (const sdk::OptionSpec& spec : schema.specs()) {
    std::string type(sdk::to_string(spec.type));
    std::string fallback = spec.default_value ? "default " + sdk::format_option_value(*spec.default_value) : "required";
    out << "  " << spec.name << std::string(name_width - spec.name.size() + 2, ' ') << type
        << std::string(type.size() < 13 ? 13 - type.size() : 1, ' ') << fallback;
    if (std::string constraint = constraint_text(spec); !constraint.empty()) out << "   " << constraint;
    out << "\n      " << spec.doc << "\n";
    if (!spec.aliases.empty()) out << "      also accepted as: " << runtime::join(spec.aliases) << "\n";
  }
}

}  // namespace fthost::cli
