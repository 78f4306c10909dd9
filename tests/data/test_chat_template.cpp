// Chat templates rendered token for token against hand-written renderings: the ids must equal
// encoding the expected text in one piece, and the mask must mark exactly the assistant spans
// (content + end marker), as TRL's assistant-only loss does.

#include <doctest/doctest.h>

#include "data/chat_template.hpp"
#include "fixture_tokenizers.hpp"

namespace {

using fthost::data::ChatMessage;
using fthost::data::ChatTemplate;
using fthost::test::concat;
using fthost::test::fixture_tokenizer;
using fthost::test::mask_runs;

const std::vector<ChatMessage> conversation = {
    {"system", "You are a helpful assistant."},
    {"user", "What is 2 + 2?"},
    {"assistant", "2 + 2 = 4."},
    {"user", "And times three?"},
    {"assistant", "That makes 12, café included."},
};

}  // namespace

TEST_CASE("chatml renders Qwen2's template and trains on assistant content and <|im_end|> only") {
  const auto& tokenizer = fixture_tokenizer("qwen2");
  auto chat_template = ChatTemplate::from_spec("chatml");
  REQUIRE(chat_template.ok());
  const std::string expected_text =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
      "<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n"
      "<|im_start|>user\nAnd times three?<|im_end|>\n"
      "<|im_start|>assistant\nThat makes 12, café included.<|im_end|>\n";
  CHECK(fthost::data::render_chat(*chat_template, conversation) == expected_text);

  auto tokens = fthost::data::encode_chat(*chat_template, conversation, tokenizer);
  CHECK(tokens.ids == tokenizer.encode(expected_text, false));
  REQUIRE(tokens.trainable.size() == tokens.ids.size());

  auto untrained_1 = tokenizer.encode(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
      "<|im_start|>assistant\n",
      false);
  auto trained_1 = tokenizer.encode("2 + 2 = 4.<|im_end|>", false);
  auto untrained_2 = tokenizer.encode("\n<|im_start|>user\nAnd times three?<|im_end|>\n<|im_start|>assistant\n", false);
  auto trained_2 = tokenizer.encode("That makes 12, café included.<|im_end|>", false);
  auto untrained_3 = tokenizer.encode("\n", false);
  CHECK(tokens.ids == concat({untrained_1, trained_1, untrained_2, trained_2, untrained_3}));
  CHECK(tokens.trainable == mask_runs({{untrained_1.size(), 0},
                                       {trained_1.size(), 1},
                                       {untrained_2.size(), 0},
                                       {trained_2.size(), 1},
                                       {untrained_3.size(), 0}}));
  // The markers are the single special tokens of the fixture (806 <|im_start|>, 807 <|im_end|>).
  CHECK(tokens.ids.front() == 806);
  CHECK(trained_1.back() == 807);
  CHECK(tokens.ids[tokens.ids.size() - 2] == 807);
  CHECK(tokens.trainable[tokens.ids.size() - 2] == 1);
}

TEST_CASE("llama3 renders <|begin_of_text|> and header blocks and trains on assistant content and <|eot_id|>") {
  const auto& tokenizer = fixture_tokenizer("llama3");
  auto chat_template = ChatTemplate::from_spec("llama3");
  REQUIRE(chat_template.ok());
  const std::string expected_text =
      "<|begin_of_text|>"
      "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n2 + 2 = 4.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nAnd times three?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nThat makes 12, café included.<|eot_id|>";
  CHECK(fthost::data::render_chat(*chat_template, conversation) == expected_text);

  auto tokens = fthost::data::encode_chat(*chat_template, conversation, tokenizer);
  CHECK(tokens.ids == tokenizer.encode(expected_text, false));

  auto untrained_1 = tokenizer.encode(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
      false);
  auto trained_1 = tokenizer.encode("2 + 2 = 4.<|eot_id|>", false);
  auto untrained_2 = tokenizer.encode(
      "<|start_header_id|>user<|end_header_id|>\n\nAnd times three?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
      false);
  auto trained_2 = tokenizer.encode("That makes 12, café included.<|eot_id|>", false);
  CHECK(tokens.ids == concat({untrained_1, trained_1, untrained_2, trained_2}));
  CHECK(tokens.trainable ==
        mask_runs({{untrained_1.size(), 0}, {trained_1.size(), 1}, {untrained_2.size(), 0}, {trained_2.size(), 1}}));
  // 822 <|begin_of_text|>, 828 <|start_header_id|>, 829 <|end_header_id|>, 831 <|eot_id|>.
  CHECK(tokens.ids[0] == 822);
  CHECK(tokens.ids[1] == 828);
  CHECK(tokens.ids.back() == 831);
  CHECK(tokens.trainable.back() == 1);
}

TEST_CASE("a custom per-message template splits header, end marker and separator at {content}") {
  auto custom = ChatTemplate::from_spec("<|im_start|>{role}\n{content}<|im_end|>\n");
  REQUIRE(custom.ok());
  CHECK(custom->begin.empty());
  CHECK(custom->header == "<|im_start|>{role}\n");
  CHECK(custom->end_marker == "<|im_end|>");
  CHECK(custom->separator == "\n");
  // The same rendering as the built-in chatml, token for token and mask for mask.
  const auto& tokenizer = fixture_tokenizer("qwen2");
  auto builtin = ChatTemplate::from_spec("chatml");
  auto from_custom = fthost::data::encode_chat(*custom, conversation, tokenizer);
  auto from_builtin = fthost::data::encode_chat(*builtin, conversation, tokenizer);
  CHECK(from_custom.ids == from_builtin.ids);
  CHECK(from_custom.trainable == from_builtin.trainable);

  // Plain-text markers and a begin text (Llama 2's BOS, written by the user).
  auto plain = ChatTemplate::from_spec("### {role}:\n{content}\n### end\n\n", "<s>");
  REQUIRE(plain.ok());
  CHECK(plain->begin == "<s>");
  CHECK(plain->header == "### {role}:\n");
  CHECK(plain->end_marker == "\n### end");
  CHECK(plain->separator == "\n\n");
  std::vector<ChatMessage> short_chat = {{"user", "Hi"}, {"assistant", "Hello"}};
  CHECK(fthost::data::render_chat(*plain, short_chat) == "<s>### user:\nHi\n### end\n\n### assistant:\nHello\n### end\n\n");
  // Llama 2's normalizer prepends "▁" to every encode(), so each span is a fresh word: the ids are
  // those of the spans encoded one by one (as torchtune does), not of the whole text.
  const auto& llama2 = fixture_tokenizer("llama2");
  auto tokens = fthost::data::encode_chat(*plain, short_chat, llama2);
  auto untrained = llama2.encode("<s>### user:\nHi\n### end\n\n### assistant:\n", false);
  auto trained = llama2.encode("Hello\n### end", false);
  auto after = llama2.encode("\n\n", false);
  CHECK(tokens.ids == concat({untrained, trained, after}));
  CHECK(tokens.trainable == mask_runs({{untrained.size(), 0}, {trained.size(), 1}, {after.size(), 0}}));

  auto refused = ChatTemplate::from_spec("{role}: no content here");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message ==
        "chat template \"{role}: no content here\": expected chatml, llama3, or a per-message template holding "
        "{content} once");
  CHECK_FALSE(ChatTemplate::from_spec("{content}{content}").ok());
}
