#pragma once
// Names and text read from a file, made fit for a one-line error message. A hostile file may name
// a tensor with newlines, terminal escapes or a megabyte of text; the message must stay one line.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fthost::model {

// Control bytes (and DEL) as \xNN; text longer than max_bytes cut at a UTF-8 character boundary
// and marked with "...".
std::string printable_for_message(std::string_view text, std::size_t max_bytes = 160);

// printable_for_message in single quotes: 'model.layers.0.mlp.up_proj.weight'.
std::string quoted_for_message(std::string_view text);

// The reason in an nlohmann::json parse error ("syntax error while parsing value - invalid
// literal"), without the offending token it quotes, which may be long or not UTF-8.
std::string json_parse_error_reason(std::string_view what);

// A shape as messages print it: "[2, 3]", "[]" for a scalar.
std::string shape_for_message(std::span<const std::int64_t> shape);

}  // namespace fthost::model
