#include "data/chat_template.hpp"

namespace fthost::data {
namespace {

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Text gathered until trained text starts, then encoded in one piece.
class MaskedEncoder {
 public:
  explicit MaskedEncoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  void add(std::string_view text, bool trained) {
    if (trained != pending_trained_) flush();
    pending_trained_ = trained;
    pending_ += text;
  }

  MaskedTokens finish() {
    flush();
    return std::move(tokens_);
  }

 private:
  void flush() {
    if (!pending_.empty()) tokens_.append(tokenizer_.encode(pending_, /*add_special_tokens=*/false), pending_trained_);
    pending_.clear();
  }

  const Tokenizer& tokenizer_;
  std::string pending_;
  bool pending_trained_ = false;
  MaskedTokens tokens_;
};

}  // namespace

sdk::Result<ChatTemplate> ChatTemplate::from_spec(std::string_view spec, std::string_view begin) {
  if (spec == "chatml") return ChatTemplate{"", "<|im_start|>{role}\n", "<|im_end|>", "\n"};
  if (spec == "llama3") {
    return ChatTemplate{"<|begin_of_text|>", "<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>", ""};
  }
  constexpr std::string_view content = "{content}";
  std::size_t at = spec.find(content);
  if (at == std::string_view::npos || spec.find(content, at + 1) != std::string_view::npos) {
    return sdk::Error::invalid_input("chat template \"" + std::string(spec) +
                                     "\": expected chatml, llama3, or a per-message template holding {content} once");
  }
  std::string_view after = spec.substr(at + content.size());
  std::size_t marker_end = after.find_last_not_of(" \t\r\n");
  std::size_t split = marker_end == std::string_view::npos ? 0 : marker_end + 1;
  return ChatTemplate{std::string(begin), std::string(spec.substr(0, at)), std::string(after.substr(0, split)),
                      std::string(after.substr(split))};
}

void MaskedTokens::append(std::span<const std::int32_t> more, bool trained) {
  ids.insert(ids.end(), more.begin(), more.end());
  trainable.insert(trainable.end(), more.size(), trained ? std::uint8_t{1} : std::uint8_t{0});
}

std::string render_chat(const ChatTemplate& chat_template, std::span<const ChatMessage> messages) {
  std::string text = chat_template.begin;
  for (const auto& message : messages) {
    text += replace_all(chat_template.header, "{role}", message.role);
    text += message.content;
    text += chat_template.end_marker;
    text += chat_template.separator;
  }
  return text;
}

MaskedTokens encode_chat(const ChatTemplate& chat_template, std::span<const ChatMessage> messages,
                         const Tokenizer& tokenizer) {
  MaskedEncoder encoder(tokenizer);
  encoder.add(chat_template.begin, false);
  for (const auto& message : messages) {
    bool trained = message.role == "assistant";
    encoder.add(replace_all(chat_template.header, "{role}", message.role), false);
    encoder.add(message.content, trained);
    encoder.add(chat_template.end_marker, trained);
    encoder.add(chat_template.separator, false);
  }
  return encoder.finish();
}

}  // namespace fthost::data
