#pragma once
// UTF-8 and Unicode helpers for the tokenizer: code point iteration, Rust's String::from_utf8_lossy,
// the Unicode properties that added-token matching asks about, normalization forms, and GPT-2's
// byte <-> printable-character table.
//
// Unicode data comes from ICU (Debian libicu-dev), not utf8proc: ICU gives both the normalization
// forms (with a quick check, so already-NFC text costs one scan) and the binary properties
// (White_Space, Alphabetic, Join_Control) that Rust's `\s` / `\w` are defined by, from one
// well-kept library. ICU's Unicode version (15 in Debian 12's ICU 72) can differ from the tables
// built into `tokenizers`; that only matters for characters assigned in between.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fthost::data::unicode {

// The code point starting at text[position] and its length in bytes. text must be valid UTF-8.
struct CodePoint {
  char32_t value;
  std::size_t length;
};
CodePoint decode_at(std::string_view text, std::size_t position);

// The length of the last code point of non-empty valid UTF-8 text.
std::size_t last_length(std::string_view text);

void append_utf8(std::string& out, char32_t code_point);

bool is_valid_utf8(std::string_view bytes);

// Rust's String::from_utf8_lossy: every maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// Rust's `\s`: the White_Space property.
bool is_whitespace(char32_t code_point);

// Rust regex's Unicode `\w`: Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control.
bool is_word_character(char32_t code_point);

enum class NormalForm { nfc, nfd, nfkc, nfkd };

// The text in the given normalization form. text must be valid UTF-8.
std::string normalize(std::string_view text, NormalForm form);

// Per-character lowercase (Rust's char::to_lowercase, no context such as final sigma).
std::string lowercase(std::string_view text);

// GPT-2's bytes_to_unicode: each byte as a printable character (UTF-8 encoded). Printable ASCII and
// most of Latin-1 map to themselves; the rest (space, controls, ...) to U+0100 upwards.
const std::array<std::string, 256>& byte_to_unicode();

// The byte a byte-level character stands for, or -1 when the code point is not one of them.
int unicode_to_byte(char32_t code_point);

}  // namespace fthost::data::unicode
