#pragma once
// Unicode regular expressions for the tokenizer, through PCRE2 (Debian libpcre2-dev) in UTF + UCP
// mode: \p{L}, \p{N} and \s mean what they mean to the Oniguruma engine `tokenizers` uses, and the
// pre-tokenizer patterns of GPT-2, Llama 3 and Qwen2 compile unchanged. Patterns are JIT-compiled.
//
// \s \S \w \W are rewritten as explicit classes before compiling, as Oniguruma defines them: PCRE2
// 10.42's \s also matches U+180E MONGOLIAN VOWEL SEPARATOR (no longer White_Space since Unicode
// 6.3), and its \w leaves out combining marks. With that, \s \w \d \p{L} \p{N} and
// [^\s\p{L}\p{N}] match what they match in `tokenizers` for every code point (checked one by one),
// except characters assigned after Unicode 14, the version of PCRE2 10.42's tables (Kawi, CJK
// Extension H, ...: about 4,400 code points, which PCRE2 sees as unassigned). Left as is: \b \B.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;  // pcre2_code in <pcre2.h>, which only the .cpp includes

namespace fthost::data {

struct Span {
  std::size_t begin;
  std::size_t end;
};

class UnicodeRegex {
 public:
  // A regex, or (literal = true) a plain string matched as is. On failure, nullopt and error holds
  // PCRE2's message with the offset.
  static std::optional<UnicodeRegex> compile(std::string_view pattern, bool literal, std::string& error);

  // Appends every non-overlapping, non-empty match in text (valid UTF-8), left to right, as Perl
  // and Oniguruma find them. Empty matches are skipped: every caller only cuts text at matches.
  void find_all(std::string_view text, std::vector<Span>& matches) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  UnicodeRegex(pcre2_real_code_8* code, bool jit) : code_(code), jit_(jit) {}
  std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
  bool jit_;  // JIT-compiled: matched through pcre2_jit_match, which skips pcre2_match's per-call checks
};

}  // namespace fthost::data
