#include "data/tokenizer_pretokenizer.hpp"

#include <algorithm>

#include "data/tokenizer_normalizer.hpp"
#include "data/tokenizer_unicode.hpp"

namespace fthost::data {
namespace {

using tokenizer_json::Json;

// GPT-2's pattern, used by ByteLevel(use_regex = true).
constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

const UnicodeRegex& gpt2_regex() {
  static const UnicodeRegex regex = [] {
    std::string error;
    return std::move(*UnicodeRegex::compile(gpt2_pattern, false, error));
  }();
  return regex;
}

// A stretch of a piece and whether the pattern matched it; together the cuts cover the piece.
struct Cut {
  Span span;
  bool is_match;
};

void cover(std::size_t length, const std::vector<Span>& matches, bool invert, std::vector<Cut>& cuts) {
  cuts.clear();
  std::size_t previous = 0;
  for (const Span& match : matches) {
    if (previous != match.begin) cuts.push_back({{previous, match.begin}, invert});
    cuts.push_back({match, !invert});
    previous = match.end;
  }
  if (previous != length) cuts.push_back({{previous, length}, invert});
}

std::string byte_level_map(std::string_view text) {
  const auto& table = unicode::byte_to_unicode();
  std::string mapped;
  mapped.reserve(text.size() * 2);
  for (char byte : text) mapped.append(table[static_cast<unsigned char>(byte)]);
  return mapped;
}

}  // namespace

void PreTokenizer::parse_into(const Json& node, const std::string& path, std::vector<Step>& steps) {
  namespace json = tokenizer_json;
  std::string type = json::component_type(node, path);
  if (type == "Sequence") {
    const Json& list = json::require_array(node, "pretokenizers", path);
    for (std::size_t index = 0; index < list.size(); ++index) {
      parse_into(list[index], json::element(json::member(path, "pretokenizers"), index), steps);
    }
  } else if (type == "Split") {
    std::string behavior = json::require_string(node, "behavior", path);
    SplitBehavior parsed = SplitBehavior::isolated;
    if (behavior == "Removed") parsed = SplitBehavior::removed;
    else if (behavior == "Isolated") parsed = SplitBehavior::isolated;
    else if (behavior == "MergedWithPrevious") parsed = SplitBehavior::merged_with_previous;
    else if (behavior == "MergedWithNext") parsed = SplitBehavior::merged_with_next;
    else if (behavior == "Contiguous") parsed = SplitBehavior::contiguous;
    else json::malformed(json::member(path, "behavior"), "unknown split behavior \"" + behavior + "\"");
    steps.emplace_back(RegexSplit{compile_pattern(json::require_pattern(node, path), path), parsed,
                                  json::optional_bool(node, "invert", path, false)});
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevel{json::optional_bool(node, "add_prefix_space", path, true),
                                 json::optional_bool(node, "use_regex", path, true)});
  } else if (type == "Metaspace") {
    // Files from before prepend_scheme say add_prefix_space; false there means "never".
    PrependScheme scheme = json::optional_bool(node, "add_prefix_space", path, true) ? PrependScheme::always
                                                                                      : PrependScheme::never;
    if (node.contains("prepend_scheme")) {
      std::string value = json::require_string(node, "prepend_scheme", path);
      if (value == "always") scheme = PrependScheme::always;
      else if (value == "first") scheme = PrependScheme::first;
      else if (value == "never") scheme = PrependScheme::never;
      else json::malformed(json::member(path, "prepend_scheme"), "expected \"always\", \"first\" or \"never\"");
    }
    steps.emplace_back(Metaspace{json::require_character(node, "replacement", path), scheme,
                                 json::optional_bool(node, "split", path, true)});
  } else {
    json::unsupported(json::member(path, "type"), "pre-tokenizer \"" + type +
                                                      "\" is not supported (fthost implements Sequence, Split, "
                                                      "ByteLevel, Metaspace)");
  }
}

PreTokenizer PreTokenizer::parse(const Json& node, const std::string& path) {
  PreTokenizer pre_tokenizer;
  if (!node.is_null()) parse_into(node, path, pre_tokenizer.steps_);
  return pre_tokenizer;
}

namespace {

// Cuts piece as `tokenizers`' NormalizedString::split does for each delimiter behaviour. A piece
// keeps at_text_start only for the part that starts where it starts.
void split_piece(const TextPiece& piece, const std::vector<Cut>& cuts, SplitBehavior behavior,
                 std::vector<TextPiece>& out) {
  std::vector<Cut> kept;  // spans to keep, in order
  if (behavior == SplitBehavior::removed) {
    for (const Cut& cut : cuts) {
      if (!cut.is_match) kept.push_back(cut);
    }
  } else if (behavior == SplitBehavior::contiguous || behavior == SplitBehavior::merged_with_previous) {
    bool previous_match = false;
    for (const Cut& cut : cuts) {
      bool merge = behavior == SplitBehavior::contiguous ? cut.is_match == previous_match : cut.is_match && !previous_match;
      if (merge && !kept.empty()) kept.back().span.end = cut.span.end;
      else kept.push_back(cut);
      previous_match = cut.is_match;
    }
  } else if (behavior == SplitBehavior::merged_with_next) {
    bool previous_match = false;
    for (auto cut = cuts.rbegin(); cut != cuts.rend(); ++cut) {
      if (cut->is_match && !previous_match && !kept.empty()) kept.back().span.begin = cut->span.begin;
      else kept.push_back(*cut);
      previous_match = cut->is_match;
    }
    std::reverse(kept.begin(), kept.end());
  } else {
    kept = cuts;  // isolated
  }
  for (const Cut& cut : kept) {
    if (cut.span.end == cut.span.begin) continue;
    out.push_back({piece.text.substr(cut.span.begin, cut.span.end - cut.span.begin),
                   piece.at_text_start && cut.span.begin == 0});
  }
}

}  // namespace

void PreTokenizer::apply(const Step& step, std::vector<TextPiece>& pieces) {
  std::vector<TextPiece> out;
  out.reserve(pieces.size());
  std::vector<Span> matches;
  std::vector<Cut> cuts;
  auto split_with = [&](const TextPiece& piece, const UnicodeRegex& regex, bool invert, SplitBehavior behavior) {
    matches.clear();
    regex.find_all(piece.text, matches);
    cover(piece.text.size(), matches, invert, cuts);
    split_piece(piece, cuts, behavior, out);
  };

  if (const auto* split = std::get_if<RegexSplit>(&step)) {
    for (const TextPiece& piece : pieces) split_with(piece, *split->pattern, split->invert, split->behavior);
  } else if (const auto* byte_level = std::get_if<ByteLevel>(&step)) {
    for (TextPiece& piece : pieces) {
      if (byte_level->add_prefix_space && piece.text.front() != ' ') piece.text.insert(0, " ");
      if (byte_level->use_regex) split_with(piece, gpt2_regex(), false, SplitBehavior::isolated);
      else out.push_back(std::move(piece));
    }
    for (TextPiece& piece : out) piece.text = byte_level_map(piece.text);
  } else if (const auto* metaspace = std::get_if<Metaspace>(&step)) {
    for (TextPiece& piece : pieces) {
      std::string& text = piece.text;
      for (std::size_t space = text.find(' '); space != std::string::npos; space = text.find(' ', space)) {
        text.replace(space, 1, metaspace->replacement);
        space += metaspace->replacement.size();
      }
      bool starts_with_replacement = text.compare(0, metaspace->replacement.size(), metaspace->replacement) == 0;
      bool prepend = !starts_with_replacement && (metaspace->prepend_scheme == PrependScheme::always ||
                                                  (metaspace->prepend_scheme == PrependScheme::first && piece.at_text_start));
      if (prepend) text.insert(0, metaspace->replacement);
      if (!metaspace->split) {
        out.push_back(std::move(piece));
        continue;
      }
      // Every replacement character is a delimiter of its own, kept with the word after it.
      matches.clear();
      for (std::size_t found = text.find(metaspace->replacement); found != std::string::npos;
           found = text.find(metaspace->replacement, found + metaspace->replacement.size())) {
        matches.push_back({found, found + metaspace->replacement.size()});
      }
      cover(text.size(), matches, false, cuts);
      split_piece(piece, cuts, SplitBehavior::merged_with_next, out);
    }
  }
  pieces = std::move(out);
}

void PreTokenizer::split(TextPiece piece, std::vector<std::string>& words) const {
  if (piece.text.empty()) return;
  std::vector<TextPiece> pieces;
  pieces.push_back(std::move(piece));
  for (const Step& step : steps_) apply(step, pieces);
  for (TextPiece& word : pieces) {
    if (!word.text.empty()) words.push_back(std::move(word.text));
  }
}

}  // namespace fthost::data
