#include "data/tokenizer_unicode.hpp"

#include <cstring>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

namespace fthost::data::unicode {
namespace {

constexpr char32_t replacement_character = 0xFFFD;

unsigned char byte_at(std::string_view text, std::size_t position) {
  return static_cast<unsigned char>(text[position]);
}

// The bytes a lead byte announces after itself, and the range its first continuation byte must lie
// in (the Unicode "well-formed UTF-8" table: no overlongs, no surrogates, nothing past U+10FFFF).
struct LeadByte {
  std::size_t continuation_bytes = 0;  // 0: not a lead byte
  unsigned char first_low = 0x80;
  unsigned char first_high = 0xBF;
};

LeadByte classify_lead(unsigned char byte) {
  if (byte >= 0xC2 && byte <= 0xDF) return {1, 0x80, 0xBF};
  if (byte == 0xE0) return {2, 0xA0, 0xBF};
  if (byte == 0xED) return {2, 0x80, 0x9F};
  if (byte >= 0xE1 && byte <= 0xEF) return {2, 0x80, 0xBF};
  if (byte == 0xF0) return {3, 0x90, 0xBF};
  if (byte >= 0xF1 && byte <= 0xF3) return {3, 0x80, 0xBF};
  if (byte == 0xF4) return {3, 0x80, 0x8F};
  return {};
}

// How many bytes from position form a well-formed character (0 when the lead byte is invalid), and
// how many bytes the maximal invalid prefix spans when they do not.
struct Scan {
  bool valid;
  std::size_t length;
};

Scan scan_character(std::string_view bytes, std::size_t position) {
  unsigned char lead = byte_at(bytes, position);
  if (lead < 0x80) return {true, 1};
  LeadByte kind = classify_lead(lead);
  if (kind.continuation_bytes == 0) return {false, 1};
  std::size_t end = position + 1;
  for (std::size_t k = 0; k < kind.continuation_bytes; ++k, ++end) {
    if (end >= bytes.size()) return {false, end - position};
    unsigned char low = k == 0 ? kind.first_low : 0x80;
    unsigned char high = k == 0 ? kind.first_high : 0xBF;
    unsigned char byte = byte_at(bytes, end);
    if (byte < low || byte > high) return {false, end - position};
  }
  return {true, end - position};
}

icu::StringPiece as_string_piece(std::string_view text) {
  return {text.data(), static_cast<int32_t>(text.size())};
}

const icu::Normalizer2* normalizer_for(NormalForm form, UErrorCode& status) {
  switch (form) {
    case NormalForm::nfc: return icu::Normalizer2::getNFCInstance(status);
    case NormalForm::nfd: return icu::Normalizer2::getNFDInstance(status);
    case NormalForm::nfkc: return icu::Normalizer2::getNFKCInstance(status);
    case NormalForm::nfkd: return icu::Normalizer2::getNFKDInstance(status);
  }
  return nullptr;
}

void append_utf16(std::u16string& out, char32_t code_point) {
  if (code_point < 0x10000) {
    out.push_back(static_cast<char16_t>(code_point));
  } else {
    out.push_back(static_cast<char16_t>(0xD800 + ((code_point - 0x10000) >> 10)));
    out.push_back(static_cast<char16_t>(0xDC00 + ((code_point - 0x10000) & 0x3FF)));
  }
}

}  // namespace

CodePoint decode_at(std::string_view text, std::size_t position) {
  unsigned char lead = byte_at(text, position);
  if (lead < 0x80) return {lead, 1};
  std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  char32_t value = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) value = (value << 6) | (byte_at(text, position + k) & 0x3Fu);
  return {value, length};
}

std::size_t last_length(std::string_view text) {
  std::size_t length = 1;
  while (length < text.size() && (byte_at(text, text.size() - length) & 0xC0) == 0x80) ++length;
  return length;
}

void append_utf8(std::string& out, char32_t code_point) {
  auto put = [&out](char32_t bits) { out.push_back(static_cast<char>(static_cast<unsigned char>(bits))); };
  if (code_point < 0x80) {
    put(code_point);
  } else if (code_point < 0x800) {
    put(0xC0 | (code_point >> 6));
    put(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    put(0xE0 | (code_point >> 12));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  } else {
    put(0xF0 | (code_point >> 18));
    put(0x80 | ((code_point >> 12) & 0x3F));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  }
}

bool is_valid_utf8(std::string_view bytes) {
  for (std::size_t position = 0; position < bytes.size();) {
    // ASCII eight bytes at a time.
    if (position + 8 <= bytes.size()) {
      std::uint64_t word = 0;
      std::memcpy(&word, bytes.data() + position, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        position += 8;
        continue;
      }
    }
    if (byte_at(bytes, position) < 0x80) {
      ++position;
      continue;
    }
    Scan scan = scan_character(bytes, position);
    if (!scan.valid) return false;
    position += scan.length;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t position = 0; position < bytes.size();) {
    Scan scan = scan_character(bytes, position);
    if (scan.valid) {
      out.append(bytes.substr(position, scan.length));
    } else {
      append_utf8(out, replacement_character);
    }
    position += scan.length;
  }
  return out;
}

bool is_whitespace(char32_t code_point) {
  return u_hasBinaryProperty(static_cast<UChar32>(code_point), UCHAR_WHITE_SPACE) != 0;
}

bool is_word_character(char32_t code_point) {
  auto character = static_cast<UChar32>(code_point);
  if (u_hasBinaryProperty(character, UCHAR_ALPHABETIC) || u_hasBinaryProperty(character, UCHAR_JOIN_CONTROL)) {
    return true;
  }
  switch (u_charType(character)) {
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_CONNECTOR_PUNCTUATION: return true;
    default: return false;
  }
}

std::string normalize(std::string_view text, NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = normalizer_for(form, status);
  if (U_FAILURE(status) || normalizer == nullptr) return std::string(text);  // ICU data missing: leave as is
  if (normalizer->isNormalizedUTF8(as_string_piece(text), status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
  normalizer->normalizeUTF8(0, as_string_piece(text), sink, nullptr, status);
  if (U_FAILURE(status)) return std::string(text);
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t position = 0; position < text.size();) {
    CodePoint character = decode_at(text, position);
    position += character.length;
    if (character.value < 0x80) {
      char ascii = static_cast<char>(character.value);
      out.push_back(ascii >= 'A' && ascii <= 'Z' ? static_cast<char>(ascii - 'A' + 'a') : ascii);
      continue;
    }
    // One character at a time, so ICU sees no context (as Rust's char::to_lowercase); root locale.
    std::u16string source;
    append_utf16(source, character.value);
    UChar lowered[8];
    UErrorCode status = U_ZERO_ERROR;
    int32_t lowered_length =
        u_strToLower(lowered, 8, source.data(), static_cast<int32_t>(source.size()), "", &status);
    if (U_FAILURE(status)) {
      append_utf8(out, character.value);
      continue;
    }
    for (int32_t index = 0; index < lowered_length; ++index) {
      char32_t unit = lowered[index];
      if (unit >= 0xD800 && unit < 0xDC00 && index + 1 < lowered_length) {
        unit = 0x10000 + ((unit - 0xD800) << 10) + (char32_t{lowered[index + 1]} - 0xDC00);
        ++index;
      }
      append_utf8(out, unit);
    }
  }
  return out;
}

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> mapping;
    char32_t next_unprintable = 256;
    for (int byte = 0; byte < 256; ++byte) {
      bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
      append_utf8(mapping[static_cast<std::size_t>(byte)],
                  printable ? static_cast<char32_t>(byte) : next_unprintable++);
    }
    return mapping;
  }();
  return table;
}

int unicode_to_byte(char32_t code_point) {
  // The 256 characters are U+0021..U+0143; index them directly.
  static const std::array<std::int16_t, 0x144> table = [] {
    std::array<std::int16_t, 0x144> reverse{};
    reverse.fill(-1);
    const auto& forward = byte_to_unicode();
    for (std::size_t byte = 0; byte < 256; ++byte) {
      reverse[decode_at(forward[byte], 0).value] = static_cast<std::int16_t>(byte);
    }
    return reverse;
  }();
  return code_point < table.size() ? table[code_point] : -1;
}

}  // namespace fthost::data::unicode
