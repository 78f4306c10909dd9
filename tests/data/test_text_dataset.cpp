// load_text_dataset: each format against hand-built token sequences (fixture tokenizers), masks on
// completions and assistant turns only, format detection, and the errors of malformed files.

#include <doctest/doctest.h>

#include "data/chat_template.hpp"
#include "data/text_dataset.hpp"
#include "dataset_contents.hpp"
#include "fixture_tokenizers.hpp"

namespace {

using fthost::data::load_text_dataset;
using fthost::data::TextDatasetOptions;
using fthost::test::as_vector;
using fthost::test::concat;
using fthost::test::documents_of;
using fthost::test::data_fixture;
using fthost::test::fixture_tokenizer;
using fthost::test::mask_runs;

// Llama 3 fixture: the template puts <|begin_of_text|> (822) first and no EOS; EOS is <|end_of_text|> (823).
constexpr std::int32_t llama3_bos = 822;
constexpr std::int32_t llama3_eos = 823;
// Qwen2 fixture: no BOS, EOS <|endoftext|> (805).
constexpr std::int32_t qwen2_eos = 805;

}  // namespace

TEST_CASE("text: documents are separated by blank lines and framed by BOS / EOS") {
  const auto& llama3 = fixture_tokenizer("llama3");
  auto dataset = load_text_dataset(data_fixture("documents.txt"), "text", llama3);
  REQUIRE_MESSAGE(dataset.ok(), (dataset.ok() ? std::string() : dataset.error().message));
  REQUIRE(dataset->document_count() == 3);
  CHECK_FALSE(dataset->masked());
  CHECK(as_vector(dataset->document(0)) ==
        concat({{llama3_bos}, llama3.encode("The first document.\nIts second line.", false), {llama3_eos}}));
  CHECK(as_vector(dataset->document(1)) == concat({{llama3_bos}, llama3.encode("The second document.", false), {llama3_eos}}));
  CHECK(as_vector(dataset->document(2)) ==
        concat({{llama3_bos}, llama3.encode("The third document, after a line of spaces.", false), {llama3_eos}}));
  std::int64_t tokens = 0;
  for (const auto& document : documents_of(*dataset)) tokens += static_cast<std::int64_t>(document.size());
  CHECK(dataset->token_count() == tokens);

  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto no_bos = load_text_dataset(data_fixture("documents.txt"), "auto", qwen2);
  REQUIRE(no_bos.ok());
  REQUIRE(no_bos->document_count() == 3);
  CHECK(as_vector(no_bos->document(1)) == concat({qwen2.encode("The second document.", false), {qwen2_eos}}));
}

TEST_CASE("jsonl: one {\"text\"} per line, every token trained on") {
  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto dataset = load_text_dataset(data_fixture("text.jsonl"), "auto", qwen2);
  REQUIRE(dataset.ok());
  REQUIRE(dataset->document_count() == 2);
  CHECK_FALSE(dataset->masked());
  CHECK(as_vector(dataset->document(0)) == concat({qwen2.encode("The first document.", false), {qwen2_eos}}));
  CHECK(as_vector(dataset->document(1)) == concat({qwen2.encode("The second document.", false), {qwen2_eos}}));
}

TEST_CASE("instruction: the Stanford Alpaca template, loss on the output and EOS only") {
  CHECK(fthost::data::alpaca_prompt("Sort these.", "3, 1, 2") ==
        "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
        "response that appropriately completes the request.\n\n### Instruction:\nSort these.\n\n### Input:\n3, 1, "
        "2\n\n### Response:\n");
  CHECK(fthost::data::alpaca_prompt("Sort these.", "") ==
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nSort these.\n\n### Response:\n");

  const auto& llama3 = fixture_tokenizer("llama3");
  auto dataset = load_text_dataset(data_fixture("alpaca.jsonl"), "auto", llama3);
  REQUIRE(dataset.ok());
  REQUIRE(dataset->document_count() == 2);
  REQUIRE(dataset->masked());
  auto prompt = llama3.encode(
      "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
      "response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n### "
      "Input:\nThe coffee is hot.\n\n### Response:\n",
      false);
  auto output = llama3.encode("Le café est chaud.", false);
  CHECK(as_vector(dataset->document(1)) == concat({{llama3_bos}, prompt, output, {llama3_eos}}));
  CHECK(as_vector(dataset->trainable(1)) == mask_runs({{1 + prompt.size(), 0}, {output.size() + 1, 1}}));
  // No input: the shorter template.
  auto short_prompt = llama3.encode(fthost::data::alpaca_prompt("Give three tips for staying healthy.", ""), false);
  auto short_output = llama3.encode("Eat well, sleep, move.", false);
  CHECK(as_vector(dataset->document(0)) == concat({{llama3_bos}, short_prompt, short_output, {llama3_eos}}));
  CHECK(as_vector(dataset->trainable(0)) == mask_runs({{1 + short_prompt.size(), 0}, {short_output.size() + 1, 1}}));

  auto pairs = load_text_dataset(data_fixture("prompt_completion.jsonl"), "instruction", llama3);
  REQUIRE(pairs.ok());
  REQUIRE(pairs->document_count() == 1);
  auto question = llama3.encode("Q: What is the capital of France?\nA:", false);
  auto answer = llama3.encode(" Paris.", false);
  CHECK(as_vector(pairs->document(0)) == concat({{llama3_bos}, question, answer, {llama3_eos}}));
  CHECK(as_vector(pairs->trainable(0)) == mask_runs({{1 + question.size(), 0}, {answer.size() + 1, 1}}));
}

TEST_CASE("chat: each line rendered with the chosen template, assistant turns trained on") {
  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto dataset = load_text_dataset(data_fixture("chat.jsonl"), "auto", qwen2);
  REQUIRE(dataset.ok());
  REQUIRE(dataset->document_count() == 2);
  auto untrained = qwen2.encode(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", false);
  auto trained = qwen2.encode("Hello!<|im_end|>", false);
  auto after = qwen2.encode("\n", false);
  CHECK(as_vector(dataset->document(0)) == concat({untrained, trained, after}));
  CHECK(as_vector(dataset->trainable(0)) == mask_runs({{untrained.size(), 0}, {trained.size(), 1}, {after.size(), 0}}));

  const auto& llama3 = fixture_tokenizer("llama3");
  TextDatasetOptions options;
  options.chat_template = "llama3";
  auto llama_chat = load_text_dataset(data_fixture("chat.jsonl"), "chat", llama3, options);
  REQUIRE(llama_chat.ok());
  auto llama_untrained = llama3.encode(
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n2 + 2?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
      false);
  auto llama_trained = llama3.encode("4<|eot_id|>", false);
  CHECK(as_vector(llama_chat->document(1)) == concat({llama_untrained, llama_trained}));
  CHECK(as_vector(llama_chat->trainable(1)) == mask_runs({{llama_untrained.size(), 0}, {llama_trained.size(), 1}}));
}

TEST_CASE("a malformed line is refused with file:line, or skipped and counted") {
  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto file = data_fixture("malformed.jsonl");
  auto refused = load_text_dataset(file, "jsonl", qwen2);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == file.string() + ":2: not a JSON object");

  TextDatasetOptions skip;
  skip.skip_bad_lines = true;
  auto skipped = load_text_dataset(file, "jsonl", qwen2, skip);
  REQUIRE(skipped.ok());
  CHECK(skipped->skipped_lines() == 2);  // the unterminated line and the misspelt key
  REQUIRE(skipped->document_count() == 2);
  CHECK(as_vector(skipped->document(1)) == concat({qwen2.encode("Another good line.", false), {qwen2_eos}}));

  // A record without the format's keys is refused too, naming what was expected.
  auto wrong_format = load_text_dataset(data_fixture("text.jsonl"), "instruction", qwen2);
  REQUIRE_FALSE(wrong_format.ok());
  CHECK(wrong_format.error().message ==
        data_fixture("text.jsonl").string() +
            ":1: missing \"instruction\" (expected prompt/completion or instruction/input/output)");
}

TEST_CASE("a role other than system, user or assistant is refused with its line") {
  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto file = data_fixture("unknown_role.jsonl");
  auto refused = load_text_dataset(file, "chat", qwen2);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == file.string() + ":2: messages[1].role \"tool\" is not system, user or assistant");
}

TEST_CASE("a file with no usable example is an error naming it") {
  const auto& qwen2 = fixture_tokenizer("qwen2");
  auto no_assistant = load_text_dataset(data_fixture("no_assistant.jsonl"), "auto", qwen2);
  REQUIRE_FALSE(no_assistant.ok());
  CHECK(no_assistant.error().message == data_fixture("no_assistant.jsonl").string() +
                                            ": no usable chat examples (each needs at least 2 tokens and one to "
                                            "train on)");

  TextDatasetOptions skip;
  skip.skip_bad_lines = true;
  auto all_bad = load_text_dataset(data_fixture("all_malformed.jsonl"), "jsonl", qwen2, skip);
  REQUIRE_FALSE(all_bad.ok());
  CHECK(all_bad.error().message == data_fixture("all_malformed.jsonl").string() +
                                       ": no usable jsonl examples (each needs at least 2 tokens and one to train "
                                       "on) (2 malformed lines skipped)");

  auto unknown_format = load_text_dataset(data_fixture("chat.jsonl"), "sharegpt", qwen2);
  REQUIRE_FALSE(unknown_format.ok());
  CHECK(unknown_format.error().message == "data format \"sharegpt\": expected text, jsonl, instruction, chat or auto");
  auto missing = load_text_dataset(data_fixture("missing.jsonl"), "jsonl", qwen2);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == data_fixture("missing.jsonl").string() + ": cannot read");
}
