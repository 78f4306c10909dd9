#include "data/tokenizer_decoder.hpp"

#include <optional>

#include "data/tokenizer_normalizer.hpp"
#include "data/tokenizer_unicode.hpp"

namespace fthost::data {
namespace {

using tokenizer_json::Json;

std::optional<int> hex_digit(char character) {
  if (character >= '0' && character <= '9') return character - '0';
  if (character >= 'a' && character <= 'f') return character - 'a' + 10;
  if (character >= 'A' && character <= 'F') return character - 'A' + 10;
  return std::nullopt;
}

// The byte a "<0xNN>" token stands for (Rust's u8::from_str_radix on NN, which also takes "+N").
std::optional<unsigned char> byte_token_value(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token.back() != '>') return std::nullopt;
  auto low = hex_digit(token[4]);
  if (!low) return std::nullopt;
  if (token[3] == '+') return static_cast<unsigned char>(*low);
  auto high = hex_digit(token[3]);
  if (!high) return std::nullopt;
  return static_cast<unsigned char>(*high * 16 + *low);
}

std::vector<char32_t> code_points(const std::string& text) {
  std::vector<char32_t> out;
  for (std::size_t position = 0; position < text.size();) {
    unicode::CodePoint character = unicode::decode_at(text, position);
    out.push_back(character.value);
    position += character.length;
  }
  return out;
}

}  // namespace

void Decoder::parse_into(const Json& node, const std::string& path, std::vector<Step>& steps) {
  namespace json = tokenizer_json;
  std::string type = json::component_type(node, path);
  if (type == "Sequence") {
    const Json& list = json::require_array(node, "decoders", path);
    for (std::size_t index = 0; index < list.size(); ++index) {
      parse_into(list[index], json::element(json::member(path, "decoders"), index), steps);
    }
  } else if (type == "ByteLevel") {
    steps.emplace_back(ByteLevel{});
  } else if (type == "ByteFallback") {
    steps.emplace_back(ByteFallback{});
  } else if (type == "Fuse") {
    steps.emplace_back(Fuse{});
  } else if (type == "Strip") {
    std::string content = json::require_character(node, "content", path);
    std::int64_t start = json::require_integer(node, "start", path);
    std::int64_t stop = json::require_integer(node, "stop", path);
    if (start < 0 || stop < 0) json::malformed(path, "start and stop must not be negative");
    steps.emplace_back(Strip{unicode::decode_at(content, 0).value, static_cast<std::size_t>(start),
                             static_cast<std::size_t>(stop)});
  } else if (type == "Replace") {
    steps.emplace_back(Replace{compile_pattern(json::require_pattern(node, path), path),
                               json::require_string(node, "content", path)});
  } else if (type == "Metaspace") {
    bool drop = json::optional_bool(node, "add_prefix_space", path, true);
    if (node.contains("prepend_scheme")) drop = json::require_string(node, "prepend_scheme", path) != "never";
    steps.emplace_back(Metaspace{json::require_character(node, "replacement", path), drop});
  } else {
    json::unsupported(json::member(path, "type"), "decoder \"" + type +
                                                      "\" is not supported (fthost implements Sequence, ByteLevel, "
                                                      "ByteFallback, Fuse, Strip, Replace, Metaspace)");
  }
}

Decoder Decoder::parse(const Json& node, const std::string& path) {
  Decoder decoder;
  decoder.present_ = !node.is_null();
  if (decoder.present_) parse_into(node, path, decoder.steps_);
  return decoder;
}

void Decoder::apply(const Step& step, std::vector<std::string>& tokens) {
  if (std::holds_alternative<ByteLevel>(step)) {
    // Every token's characters back to bytes (a token with a character outside the table is taken
    // as raw UTF-8), all joined, then repaired.
    std::string bytes;
    for (const std::string& token : tokens) {
      std::size_t mark = bytes.size();
      bool mapped = true;
      for (std::size_t position = 0; position < token.size();) {
        unicode::CodePoint character = unicode::decode_at(token, position);
        position += character.length;
        int byte = unicode::unicode_to_byte(character.value);
        if (byte < 0) {
          mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(static_cast<unsigned char>(byte)));
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes.append(token);
      }
    }
    tokens.assign(1, unicode::utf8_lossy(bytes));
  } else if (std::holds_alternative<ByteFallback>(step)) {
    std::vector<std::string> out;
    std::string pending;  // bytes of consecutive <0xNN> tokens
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::is_valid_utf8(pending)) out.push_back(pending);
      else out.insert(out.end(), pending.size(), "\xEF\xBF\xBD");  // one U+FFFD per byte
      pending.clear();
    };
    for (std::string& token : tokens) {
      if (auto byte = byte_token_value(token)) {
        pending.push_back(static_cast<char>(*byte));
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens = std::move(out);
  } else if (std::holds_alternative<Fuse>(step)) {
    std::string fused;
    for (const std::string& token : tokens) fused += token;
    tokens.assign(1, std::move(fused));
  } else if (const auto* strip = std::get_if<Strip>(&step)) {
    for (std::string& token : tokens) {
      std::vector<char32_t> characters = code_points(token);
      std::size_t begin = 0;
      while (begin < strip->start && begin < characters.size() && characters[begin] == strip->content) ++begin;
      std::size_t end = characters.size();
      for (std::size_t removed = 0; removed < strip->stop && end > begin && characters[end - 1] == strip->content;
           ++removed) {
        --end;
      }
      std::string kept;
      for (std::size_t index = begin; index < end; ++index) unicode::append_utf8(kept, characters[index]);
      token = std::move(kept);
    }
  } else if (const auto* replace = std::get_if<Replace>(&step)) {
    for (std::string& token : tokens) token = replace_all(*replace->pattern, token, replace->content);
  } else if (const auto* metaspace = std::get_if<Metaspace>(&step)) {
    for (std::size_t index = 0; index < tokens.size(); ++index) {
      std::string& token = tokens[index];
      std::string out;
      for (std::size_t position = 0; position < token.size();) {
        if (token.compare(position, metaspace->replacement.size(), metaspace->replacement) == 0) {
          if (index != 0 || !metaspace->drop_in_first_token) out.push_back(' ');
          position += metaspace->replacement.size();
          continue;
        }
        std::size_t length = unicode::decode_at(token, position).length;
        out.append(token, position, length);
        position += length;
      }
      token = std::move(out);
    }
  }
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string text;
  if (!present_) {
    for (std::size_t index = 0; index < tokens.size(); ++index) {
      if (index > 0) text.push_back(' ');
      text += tokens[index];
    }
    return text;
  }
  for (const Step& step : steps_) apply(step, tokens);
  for (const std::string& token : tokens) text += token;
  return text;
}

}  // namespace fthost::data
