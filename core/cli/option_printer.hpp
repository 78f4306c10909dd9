#pragma once
// Prints an option schema the way gst-inspect prints element properties: name, type, default,
// allowed range or values, and the one-line doc.

#include <iosfwd>
#include <string_view>

#include "fthost/sdk/options.hpp"

namespace fthost::cli {

void print_option_schema(std::ostream& out, const sdk::OptionSchema& schema);

}  // namespace fthost::cli
