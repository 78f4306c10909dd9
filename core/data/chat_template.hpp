#pragma once
// Chat templates: how a conversation becomes tokens, and which of them the model is trained on.
//
// A template renders each message as   header(role) + content + end_marker + separator
// after `begin`, once, before the first message. Built in:
//   chatml  (Qwen2)  header "<|im_start|>{role}\n", end marker "<|im_end|>", separator "\n"
//   llama3           begin "<|begin_of_text|>",
//                    header "<|start_header_id|>{role}<|end_header_id|>\n\n", end marker "<|eot_id|>"
// Only assistant content and its end marker are trained on (TRL's assistant-only loss: the model
// learns to answer and to stop, never to write the user's turn or the next header).
//
// A custom template is one string per message holding "{content}" once and "{role}" where the role
// goes: the text before {content} is the header; the text after it is the end marker, except its
// trailing whitespace, which is the (untrained) separator. "<|im_start|>{role}\n{content}<|im_end|>\n"
// is chatml. `begin` (the tokenizer's BOS, say) is given apart; the tokenizer's own special-token
// template is not applied to chats.
//
// Tokens: untrained text is gathered and encoded in one piece up to where trained text starts, so
// the ids equal those of encoding the whole rendered string whenever the tokenizer does not merge
// across those boundaries (it never does across special tokens such as <|im_end|>). Tokenizers
// whose normalizer prepends "▁" to every text (Llama 2, Mistral) start each span as a new word,
// as torchtune's per-message encoding does.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer.hpp"
#include "fthost/sdk/error.hpp"

namespace fthost::data {

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

struct ChatTemplate {
  std::string begin;
  std::string header;  // "{role}" is replaced by the message's role
  std::string end_marker;
  std::string separator;

  // "chatml", "llama3", or a custom per-message template (see above); begin is used only by a custom one.
  static sdk::Result<ChatTemplate> from_spec(std::string_view spec, std::string_view begin = {});
};

// Token ids with a loss mask of the same length (1 = trained on).
struct MaskedTokens {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> trainable;

  void append(std::span<const std::int32_t> more, bool trained);
};

// The rendered text, as one string (what a user would see in Jinja's output).
std::string render_chat(const ChatTemplate& chat_template, std::span<const ChatMessage> messages);

// The rendered conversation as tokens, assistant content + end marker trainable.
MaskedTokens encode_chat(const ChatTemplate& chat_template, std::span<const ChatMessage> messages,
                         const Tokenizer& tokenizer);

}  // namespace fthost::data
