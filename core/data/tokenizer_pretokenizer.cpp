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
using Cut = PreTokenizerScratch::Cut;

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

using Piece = TextPieces::Piece;

// Cuts piece (cuts relative to it) as `tokenizers`' NormalizedString::split does for each
// delimiter behaviour. Only the part that starts where the piece starts keeps at_text_start.
void split_piece(const Piece& piece, const std::vector<Cut>& cuts, SplitBehavior behavior, std::vector<Cut>& kept,
                 std::vector<Piece>& out) {
  auto emit = [&piece, &out](const Cut& cut) {
    if (cut.span.end == cut.span.begin) return;
    bool at_text_start = piece.at_text_start && cut.span.begin == 0;
    out.push_back({piece.begin + cut.span.begin, piece.begin + cut.span.end, at_text_start});
  };
  if (behavior == SplitBehavior::isolated) {
    for (const Cut& cut : cuts) emit(cut);
    return;
  }
  kept.clear();
  if (behavior == SplitBehavior::removed) {
    for (const Cut& cut : cuts) {
      if (!cut.is_match) kept.push_back(cut);
    }
  } else if (behavior == SplitBehavior::contiguous || behavior == SplitBehavior::merged_with_previous) {
    bool previous_match = false;
    for (const Cut& cut : cuts) {
      bool merge = behavior == SplitBehavior::contiguous ? cut.is_match == previous_match
                                                         : cut.is_match && !previous_match;
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
  }
  for (const Cut& cut : kept) emit(cut);
}

// Rebuilds pieces into scratch, each piece's text rewritten by transform(view, out), then swaps.
template <typename Transform>
void rewrite(TextPieces& pieces, TextPieces& scratch, Transform transform) {
  scratch.storage.clear();
  scratch.pieces.clear();
  for (const Piece& piece : pieces.pieces) {
    std::size_t begin = scratch.storage.size();
    transform(pieces.view(piece), piece.at_text_start, scratch.storage);
    scratch.pieces.push_back({begin, scratch.storage.size(), piece.at_text_start});
  }
  pieces.storage.swap(scratch.storage);
  pieces.pieces.swap(scratch.pieces);
  pieces.text = pieces.storage;  // after the swap: a short string's characters move with it
}

}  // namespace

void PreTokenizer::apply(const Step& step, TextPieces& pieces, PreTokenizerScratch& scratch) {
  std::vector<Piece>& out = scratch.pieces;
  std::vector<Span>& matches = scratch.matches;
  std::vector<Cut>& cuts = scratch.cuts;
  std::vector<Cut>& kept = scratch.kept;
  auto split_with = [&](const UnicodeRegex& regex, bool invert, SplitBehavior behavior) {
    out.clear();
    out.reserve(pieces.text.size() / 3 + 8);  // words average more than 3 bytes
    for (const Piece& piece : pieces.pieces) {
      matches.clear();
      regex.find_all(pieces.view(piece), matches);
      cover(piece.end - piece.begin, matches, invert, cuts);
      split_piece(piece, cuts, behavior, kept, out);
    }
    pieces.pieces.swap(out);
  };

  if (const auto* split = std::get_if<RegexSplit>(&step)) {
    split_with(*split->pattern, split->invert, split->behavior);
  } else if (const auto* byte_level = std::get_if<ByteLevel>(&step)) {
    if (byte_level->add_prefix_space) {
      rewrite(pieces, scratch.rewritten, [](std::string_view text, bool, std::string& into) {
        if (text.front() != ' ') into.push_back(' ');
        into.append(text);
      });
    }
    if (byte_level->use_regex) split_with(gpt2_regex(), false, SplitBehavior::isolated);
    const auto& table = unicode::byte_to_unicode();
    rewrite(pieces, scratch.rewritten, [&table](std::string_view text, bool, std::string& into) {
      // Each byte becomes 1 or 2 bytes: size for the worst case, write, then trim.
      std::size_t used = into.size();
      into.resize(used + 2 * text.size());
      char* write = into.data() + used;
      for (char byte : text) {
        const std::string& mapped = table[static_cast<unsigned char>(byte)];
        *write++ = mapped[0];
        if (mapped.size() == 2) *write++ = mapped[1];
      }
      into.resize(static_cast<std::size_t>(write - into.data()));
    });
  } else if (const auto* metaspace = std::get_if<Metaspace>(&step)) {
    const std::string& replacement = metaspace->replacement;
    auto write = [metaspace, &replacement](std::string_view text, bool at_text_start, std::string& into) {
      // Spaces become the replacement; then (prepend_scheme) one goes in front unless one is there.
      bool starts_with_replacement = text.front() == ' ' || text.substr(0, replacement.size()) == replacement;
      bool wanted = metaspace->prepend_scheme == PrependScheme::always ||
                    (metaspace->prepend_scheme == PrependScheme::first && at_text_start);
      if (wanted && !starts_with_replacement) into.append(replacement);
      for (char byte : text) {
        if (byte == ' ') into.append(replacement);
        else into.push_back(byte);
      }
    };
    rewrite(pieces, scratch.rewritten, write);
    if (metaspace->split) {
      // Every replacement character is a delimiter of its own, kept with the word after it.
      out.clear();
      for (const Piece& piece : pieces.pieces) {
        std::string_view text = pieces.view(piece);
        matches.clear();
        for (std::size_t found = text.find(replacement); found != std::string_view::npos;
             found = text.find(replacement, found + replacement.size())) {
          matches.push_back({found, found + replacement.size()});
        }
        cover(text.size(), matches, false, cuts);
        split_piece(piece, cuts, SplitBehavior::merged_with_next, kept, out);
      }
      pieces.pieces.swap(out);
    }
  }
}

void PreTokenizer::split(std::string_view text, bool at_text_start, TextPieces& words,
                         PreTokenizerScratch& scratch) const {
  words.text = text;
  words.pieces.clear();
  if (!text.empty()) words.pieces.push_back({0, text.size(), at_text_start});
  for (const Step& step : steps_) apply(step, words, scratch);
}

}  // namespace fthost::data
