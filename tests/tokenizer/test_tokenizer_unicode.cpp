// The Unicode helpers under the tokenizer, against what Rust (and Python) do.

#include <doctest/doctest.h>

#include "data/tokenizer_regex.hpp"
#include "data/tokenizer_unicode.hpp"

namespace unicode = fthost::data::unicode;
using fthost::data::Span;
using fthost::data::UnicodeRegex;

namespace {

// The matched substrings of pattern in text.
std::vector<std::string> matches_of(std::string_view pattern, std::string_view text, bool literal = false) {
  std::string error;
  auto regex = UnicodeRegex::compile(pattern, literal, error);
  REQUIRE_MESSAGE(regex, error);
  std::vector<Span> spans;
  regex->find_all(text, spans);
  std::vector<std::string> out;
  for (const Span& span : spans) out.emplace_back(text.substr(span.begin, span.end - span.begin));
  return out;
}

}  // namespace

TEST_CASE("utf8_lossy replaces each maximal invalid subsequence with one U+FFFD") {
  // Expected strings from Python's bytes.decode("utf-8", "replace"), which follows the same rule
  // as Rust's String::from_utf8_lossy.
  const std::string replacement = "\xEF\xBF\xBD";
  CHECK(unicode::utf8_lossy("\xF0\x9F\x98") == replacement);
  CHECK(unicode::utf8_lossy("\xE0\x80") == replacement + replacement);
  CHECK(unicode::utf8_lossy("a\xFF" "b") == "a" + replacement + "b");
  CHECK(unicode::utf8_lossy("\xED\xA0\x80") == replacement + replacement + replacement);  // a surrogate
  CHECK(unicode::utf8_lossy("\xF4\x90\x80\x80") == replacement + replacement + replacement + replacement);
  CHECK(unicode::utf8_lossy("\xE4\xBD\xA0\xE5") == "\xE4\xBD\xA0" + replacement);
  CHECK(unicode::utf8_lossy("\xC0\xAF") == replacement + replacement);  // overlong
  CHECK(unicode::utf8_lossy("caf\xC3\xA9 \xF0\x9F\x8D\xA3") == "caf\xC3\xA9 \xF0\x9F\x8D\xA3");
  CHECK(unicode::is_valid_utf8("caf\xC3\xA9"));
  CHECK_FALSE(unicode::is_valid_utf8("caf\xC3"));
}

TEST_CASE("byte_to_unicode is GPT-2's table and unicode_to_byte inverts it") {
  const auto& table = unicode::byte_to_unicode();
  CHECK(table[' '] == "\xC4\xA0");    // U+0120 Ġ
  CHECK(table['\n'] == "\xC4\x8A");   // U+010A Ċ
  CHECK(table['a'] == "a");
  CHECK(table[0xAD] == "\xC5\x83");   // U+0143, the last one
  CHECK(table[0xE9] == "\xC3\xA9");   // é stands for itself
  for (int byte = 0; byte < 256; ++byte) {
    CHECK(unicode::unicode_to_byte(unicode::decode_at(table[static_cast<std::size_t>(byte)], 0).value) == byte);
  }
  CHECK(unicode::unicode_to_byte(U' ') == -1);
  CHECK(unicode::unicode_to_byte(0x2581) == -1);
}

TEST_CASE("the properties behind Rust's \\s and \\w") {
  CHECK(unicode::is_whitespace(U'\t'));
  CHECK(unicode::is_whitespace(0x00A0));
  CHECK(unicode::is_whitespace(0x3000));
  CHECK_FALSE(unicode::is_whitespace(0x200B));  // zero width space is not White_Space
  CHECK(unicode::is_word_character(U'_'));
  CHECK(unicode::is_word_character(0x0301));    // combining acute accent (a mark)
  CHECK(unicode::is_word_character(0x4F60));    // 你
  CHECK(unicode::is_word_character(U'7'));
  CHECK(unicode::is_word_character(0x200D));    // zero width joiner (Join_Control)
  CHECK_FALSE(unicode::is_word_character(U'-'));
  CHECK_FALSE(unicode::is_word_character(0x1F363));  // 🍣
}

TEST_CASE("normalize and lowercase") {
  CHECK(unicode::normalize("cafe\xCC\x81", unicode::NormalForm::nfc) == "caf\xC3\xA9");
  CHECK(unicode::normalize("caf\xC3\xA9", unicode::NormalForm::nfd) == "cafe\xCC\x81");
  CHECK(unicode::normalize("\xEF\xAC\x81", unicode::NormalForm::nfkc) == "fi");  // the ligature ﬁ
  // ΟΔΟΣ -> οδοσ: no final sigma, one character at a time
  CHECK(unicode::lowercase("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 ABC") == "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83 abc");
  CHECK(unicode::lowercase("\xC4\xB0") == "i\xCC\x87");  // İ -> i + combining dot, as Rust
}

TEST_CASE("UnicodeRegex: \\s and \\w as Oniguruma has them, classes and escapes survive the rewrite") {
  const std::string mongolian_vowel_separator = "\xE1\xA0\x8E";
  const std::string ideographic_space = "\xE3\x80\x80";
  CHECK(matches_of(R"(\s+)", "a" + mongolian_vowel_separator + "b \t" + ideographic_space + "c") ==
        std::vector<std::string>{" \t" + ideographic_space});
  CHECK(matches_of(R"(\S+)", "a" + mongolian_vowel_separator + "b c") ==
        std::vector<std::string>{"a" + mongolian_vowel_separator + "b", "c"});
  CHECK(matches_of(R"([^\s\p{L}]+)", "x" + mongolian_vowel_separator + "1 2") ==
        std::vector<std::string>{mongolian_vowel_separator + "1", "2"});
  CHECK(matches_of(R"(\Q\s\E|[]\s]+)", "a\\s] b") == std::vector<std::string>{"\\s", "] "});
  CHECK(matches_of(R"([[:digit:]\s]+)", "ab1 2c") == std::vector<std::string>{"1 2"});
  CHECK(matches_of("a.b", "axb a.b", true) == std::vector<std::string>{"a.b"});
  CHECK(matches_of(R"(\p{L}+|\p{N})", "caf\xC3\xA9 42") == std::vector<std::string>{"caf\xC3\xA9", "4", "2"});
  // Oniguruma's \w: marks are word characters; "²" only outside brackets.
  CHECK(matches_of(R"(\w+)", "cafe\xCC\x81 a\xC2\xB2" "b") ==
        std::vector<std::string>{"cafe\xCC\x81", "a\xC2\xB2" "b"});
  CHECK(matches_of(R"([\w]+)", "a\xC2\xB2" "b") == std::vector<std::string>{"a", "b"});
  CHECK(matches_of(R"(\W+)", "a, \xCC\x81" "b") == std::vector<std::string>{", "});

  std::string error;
  CHECK_FALSE(UnicodeRegex::compile("(", false, error));
  CHECK(error.find("offset") != std::string::npos);
}
