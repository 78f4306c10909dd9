#include "model/message_text.hpp"

#include <array>

namespace fthost::model {

std::string printable_for_message(std::string_view text, std::size_t max_bytes) {
  std::size_t cut = text.size();
  if (cut > max_bytes) {
    cut = max_bytes;
    // Never split a multi-byte UTF-8 character: back up over continuation bytes (10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  }
  constexpr std::array<char, 16> hex_digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string printable;
  printable.reserve(cut + 3);
  for (char character : text.substr(0, cut)) {
    const auto byte = static_cast<unsigned char>(character);
    if (byte < 0x20U || byte == 0x7FU) {
      printable += "\\x";
      printable += hex_digits[byte >> 4U];
      printable += hex_digits[byte & 0x0FU];
    } else {
      printable += character;
    }
  }
  if (cut < text.size()) printable += "...";
  return printable;
}

std::string quoted_for_message(std::string_view text) {
  std::string quoted(1, '\'');
  quoted += printable_for_message(text);
  quoted += '\'';
  return quoted;
}

std::string json_parse_error_reason(std::string_view what) {
  // "[json.exception.parse_error.101] parse error at line 1, column 6: <reason>; last read: '<token>'"
  std::string_view reason = what.substr(0, what.find("; last read"));
  if (std::size_t colon = reason.find(": "); colon != std::string_view::npos) reason.remove_prefix(colon + 2);
  return printable_for_message(reason);
}

std::string shape_for_message(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t index = 0; index < shape.size(); ++index) {
    if (index > 0) text += ", ";
    text += std::to_string(shape[index]);
  }
  return text + "]";
}

}  // namespace fthost::model
