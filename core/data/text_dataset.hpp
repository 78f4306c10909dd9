#pragma once
// Text training data, tokenized on load (the formats Axolotl, torchtune and TRL users bring).
//
//   text         a plain text file; documents are separated by a blank line (a line holding only
//                whitespace); a document's lines are joined with "\n".
//   jsonl        one {"text": "..."} per line.
//   instruction  one {"prompt": "...", "completion": "..."} per line, or Stanford Alpaca's
//                {"instruction", "input" (optional, may be empty), "output"}; the prompt is
//                rendered with Alpaca's template, exactly:
//                  with input:    "Below is an instruction that describes a task, paired with an input that
//                                 provides further context. Write a response that appropriately completes
//                                 the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n
//                                 ### Response:\n"   (one line in the source; wrapped here)
//                  without input: "Below is an instruction that describes a task. Write a response that
//                                 appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n
//                                 ### Response:\n"
//                and the completion is the output. Only completion tokens (and the EOS after them)
//                are trained on.
//   chat         one {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]} per
//                line, rendered with options.chat_template (chat_template.hpp); only assistant
//                content and end markers are trained on.
//   auto         .txt is text; .jsonl / .json (read as JSON lines) by the first record's keys:
//                messages -> chat, prompt+completion or instruction+output -> instruction,
//                text -> jsonl, input_ids -> pre-tokenized (load_token_jsonl).
//
// Special tokens: text, jsonl and instruction examples get what the tokenizer's template adds
// (Llama's BOS, say), then EOS when the tokenizer has one and the template did not add it. Chats
// get only what the chat template writes.
//
// Errors name the place: "file:line: ..." for a line that is not a JSON object, lacks a key, holds
// a non-string or an unknown role. With skip_bad_lines such lines are skipped and counted
// (TokenDataset::skipped_lines()) instead. Examples shorter than 2 tokens or with nothing to train
// on are left out; a file with no usable example is an error naming it.

#include <filesystem>
#include <string>
#include <string_view>

#include "data/token_dataset.hpp"
#include "data/tokenizer.hpp"
#include "fthost/sdk/error.hpp"

namespace fthost::data {

struct TextDatasetOptions {
  bool skip_bad_lines = false;
  std::string chat_template = "chatml";  // chatml, llama3, or a per-message template (chat_template.hpp)
  std::string chat_template_begin;       // a custom template's text before the first message
};

// format: text, jsonl, instruction, chat or auto. The file is read one line (plain text: one
// document) at a time and each example's tokens go to `store` (in memory unless told otherwise)
// before the next is read.
sdk::Result<TokenDataset> load_text_dataset(const std::filesystem::path& file, std::string_view format,
                                            const Tokenizer& tokenizer, const TextDatasetOptions& options = {},
                                            TokenStoreWriter store = {});

// The Stanford Alpaca prompt for an instruction and an optional input (empty: none).
std::string alpaca_prompt(std::string_view instruction, std::string_view input);

}  // namespace fthost::data
