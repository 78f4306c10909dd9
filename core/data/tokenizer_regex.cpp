#include "data/tokenizer_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

namespace fthost::data {
namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};

// Per-thread matching state: match data is not shareable between threads, and the JIT stack is
// grown from PCRE2's 32 KiB default so long runs of whitespace under `\s+(?!\S)` cannot exhaust it.
struct MatchState {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data{pcre2_match_data_create(1, nullptr)};
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack{pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr)};
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context{pcre2_match_context_create(nullptr)};
  MatchState() { pcre2_jit_stack_assign(context.get(), nullptr, stack.get()); }
};

MatchState& thread_match_state() {
  thread_local MatchState state;
  return state;
}

// What \s and \w match in Oniguruma (measured over every code point through `tokenizers`):
// White_Space; and Alphabetic, Mark, Decimal_Number, Connector_Punctuation, where a \w outside a
// bracket also takes the six Latin-1 digits and fractions ²³¹¼½¾ (an Oniguruma quirk).
constexpr std::string_view white_space_members = R"(\p{White_Space})";
constexpr std::string_view word_members_in_class = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc})";
constexpr std::string_view word_members = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\xB2\xB3\xB9\xBC-\xBE)";

// The pattern with \s \S \w \W spelled as the classes they are to Oniguruma. PCRE2 10.42's own \s
// also takes U+180E, and its \w is Letter, Number and "_" only. Escapes, \Q...\E and character
// classes (where \s and \w become the members, and [:posix:] names stay) are walked over so that
// nothing else changes. (\b still uses PCRE2's \w.)
std::string spell_out_classes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (std::size_t index = 0; index < pattern.size();) {
    char character = pattern[index];
    char next = index + 1 < pattern.size() ? pattern[index + 1] : '\0';
    if (character == '\\' && next == 'Q') {  // \Q...\E: literal text, copied as is
      std::size_t end = pattern.find("\\E", index + 2);
      end = end == std::string_view::npos ? pattern.size() : end + 2;
      out.append(pattern.substr(index, end - index));
      index = end;
    } else if (character == '\\' && (next == 's' || next == 'w')) {
      std::string_view members = next == 's' ? white_space_members : in_class ? word_members_in_class : word_members;
      if (in_class) out.append(members);
      else out.append("[").append(members).append("]");
      index += 2;
    } else if (character == '\\' && (next == 'S' || next == 'W') && !in_class) {
      out.append("[^").append(next == 'S' ? white_space_members : word_members).append("]");
      index += 2;
    } else if (character == '\\') {  // any other escape, such as \p{L} or \[, stays
      out.append(pattern.substr(index, std::min<std::size_t>(2, pattern.size() - index)));
      index += 2;
    } else if (!in_class && character == '[') {
      in_class = true;
      out.push_back(character);
      ++index;
      if (index < pattern.size() && pattern[index] == '^') out.push_back(pattern[index++]);
      if (index < pattern.size() && pattern[index] == ']') out.push_back(pattern[index++]);  // a literal ]
    } else if (in_class && character == '[' && next == ':') {  // [:alpha:]
      std::size_t end = pattern.find(":]", index + 2);
      end = end == std::string_view::npos ? pattern.size() : end + 2;
      out.append(pattern.substr(index, end - index));
      index = end;
    } else {
      if (in_class && character == ']') in_class = false;
      out.push_back(character);
      ++index;
    }
  }
  return out;
}

}  // namespace

void UnicodeRegex::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

std::optional<UnicodeRegex> UnicodeRegex::compile(std::string_view pattern, bool literal, std::string& error) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  std::uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  // LITERAL refuses UCP
  std::string spelled = literal ? std::string(pattern) : spell_out_classes(pattern);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(spelled.data()), spelled.size(), options, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    error = std::string(reinterpret_cast<const char*>(message)) + " at offset " + std::to_string(error_offset);
    return std::nullopt;
  }
  bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;  // without JIT, pcre2_match interprets
  return UnicodeRegex(code, jit);
}

void UnicodeRegex::find_all(std::string_view text, std::vector<Span>& matches) const {
  MatchState& state = thread_match_state();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t position = 0;
  while (position < text.size()) {
    // The input was checked once (is_valid_utf8); PCRE2 need not re-check it on every call.
    int result = jit_ ? pcre2_jit_match(code_.get(), subject, text.size(), position, 0, state.data.get(),
                                        state.context.get())
                      : pcre2_match(code_.get(), subject, text.size(), position, PCRE2_NO_UTF_CHECK,
                                    state.data.get(), state.context.get());
    if (result == PCRE2_ERROR_JIT_STACKLIMIT) {
      result = pcre2_match(code_.get(), subject, text.size(), position, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                           state.data.get(), state.context.get());
    }
    if (result < 0) return;  // no further match (or a resource limit: the rest counts as unmatched)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data.get());
    std::size_t begin = ovector[0];
    std::size_t end = ovector[1];
    if (end > begin) {
      matches.push_back({begin, end});
      position = end;
    } else {
      // An empty match: step over one character, as Oniguruma's iterator does.
      position = begin + 1;
      while (position < text.size() && (static_cast<unsigned char>(text[position]) & 0xC0) == 0x80) ++position;
    }
  }
}

}  // namespace fthost::data
