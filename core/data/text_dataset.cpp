#include "data/text_dataset.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/chat_template.hpp"

namespace fthost::data {
namespace {

using sdk::Error;
using Json = nlohmann::json;

// What the tokenizer's special-token template puts around a sequence (Llama: BOS before).
struct SpecialFrame {
  std::vector<std::int32_t> prefix;
  std::vector<std::int32_t> suffix;  // ends with EOS when the tokenizer has one
};

SpecialFrame special_frame(const Tokenizer& tokenizer) {
  SpecialFrame frame;
  auto plain = tokenizer.encode("a", /*add_special_tokens=*/false);
  auto framed = tokenizer.encode("a", /*add_special_tokens=*/true);
  auto found = std::search(framed.begin(), framed.end(), plain.begin(), plain.end());
  if (found != framed.end()) {
    frame.prefix.assign(framed.begin(), found);
    frame.suffix.assign(found + static_cast<std::ptrdiff_t>(plain.size()), framed.end());
  }
  auto eos = tokenizer.eos_id();
  if (eos && (frame.suffix.empty() || frame.suffix.back() != *eos)) frame.suffix.push_back(*eos);
  return frame;
}

// A line's content, or why it was refused (the caller adds "file:line: ").
using Example = sdk::Result<MaskedTokens>;

sdk::Result<Json> parse_object(const std::string& line) {
  try {
    Json record = Json::parse(line);
    if (record.is_object()) return record;
  } catch (const Json::parse_error&) {
  }
  return Error::invalid_input("not a JSON object");
}

// record[key] as a string; absent is an error unless optional (then empty).
sdk::Result<std::string> string_field(const Json& record, const std::string& key, bool optional = false) {
  auto found = record.find(key);
  if (found == record.end() || found->is_null()) {
    if (optional) return std::string();
    return Error::invalid_input("missing \"" + key + "\"");
  }
  if (!found->is_string()) return Error::invalid_input("\"" + key + "\" is not a string");
  return found->get<std::string>();
}

MaskedTokens framed_text(const std::string& text, const SpecialFrame& frame, const Tokenizer& tokenizer) {
  MaskedTokens tokens;
  tokens.append(frame.prefix, true);
  tokens.append(tokenizer.encode(text, /*add_special_tokens=*/false), true);
  tokens.append(frame.suffix, true);
  return tokens;
}

Example text_example(const Json& record, const SpecialFrame& frame, const Tokenizer& tokenizer) {
  auto text = string_field(record, "text");
  if (!text) return text.error();
  return framed_text(*text, frame, tokenizer);
}

Example instruction_example(const Json& record, const SpecialFrame& frame, const Tokenizer& tokenizer) {
  std::string prompt;
  std::string completion;
  if (record.contains("prompt")) {
    auto prompt_field = string_field(record, "prompt");
    if (!prompt_field) return prompt_field.error();
    auto completion_field = string_field(record, "completion");
    if (!completion_field) return completion_field.error();
    prompt = std::move(*prompt_field);
    completion = std::move(*completion_field);
  } else {
    auto instruction = string_field(record, "instruction");
    if (!instruction) return Error::invalid_input(instruction.error().message + " (expected prompt/completion or "
                                                  "instruction/input/output)");
    auto input = string_field(record, "input", /*optional=*/true);
    if (!input) return input.error();
    auto output = string_field(record, "output");
    if (!output) return output.error();
    prompt = alpaca_prompt(*instruction, *input);
    completion = std::move(*output);
  }
  MaskedTokens tokens;
  tokens.append(frame.prefix, false);
  tokens.append(tokenizer.encode(prompt, /*add_special_tokens=*/false), false);
  tokens.append(tokenizer.encode(completion, /*add_special_tokens=*/false), true);
  tokens.append(frame.suffix, true);
  return tokens;
}

Example chat_example(const Json& record, const ChatTemplate& chat_template, const Tokenizer& tokenizer) {
  auto found = record.find("messages");
  if (found == record.end() || !found->is_array()) return Error::invalid_input("expected a \"messages\" list");
  std::vector<ChatMessage> messages;
  for (std::size_t i = 0; i < found->size(); ++i) {
    const Json& message = (*found)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) return Error::invalid_input(where + " is not an object");
    auto role = string_field(message, "role");
    if (!role) return Error::invalid_input(where + ": " + role.error().message);
    if (*role != "system" && *role != "user" && *role != "assistant") {
      return Error::invalid_input(where + ".role \"" + *role + "\" is not system, user or assistant");
    }
    auto content = string_field(message, "content");
    if (!content) return Error::invalid_input(where + ": " + content.error().message);
    messages.push_back({std::move(*role), std::move(*content)});
  }
  return encode_chat(chat_template, messages, tokenizer);
}

// Worth training on: two tokens at least, and a target (token 1 or later) that is trainable.
bool usable(const MaskedTokens& tokens) {
  return tokens.ids.size() >= 2 && std::find(tokens.trainable.begin() + 1, tokens.trainable.end(), 1) !=
                                       tokens.trainable.end();
}

sdk::Result<bool> add_example(TokenStoreWriter& store, const MaskedTokens& tokens, bool keep_mask) {
  if (!usable(tokens)) return true;
  return store.add(tokens.ids, keep_mask ? std::span(tokens.trainable) : std::span<const std::uint8_t>());
}

// Reads one document (up to a blank line) at a time: only it and its tokens are in memory.
sdk::Result<bool> load_plain_text(const std::filesystem::path& file, const Tokenizer& tokenizer,
                                  TokenStoreWriter& store) {
  std::ifstream stream(file);
  if (!stream) return Error::invalid_input(file.string() + ": cannot read");
  SpecialFrame frame = special_frame(tokenizer);
  std::string document;
  bool has_lines = false;
  auto finish_document = [&]() -> sdk::Result<bool> {
    sdk::Result<bool> added = true;
    if (has_lines) added = add_example(store, framed_text(document, frame, tokenizer), /*keep_mask=*/false);
    document.clear();
    has_lines = false;
    return added;
  };
  std::string line;
  while (std::getline(stream, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (auto added = finish_document(); !added) return added.error();
      continue;
    }
    if (has_lines) document += '\n';
    document += line;
    has_lines = true;
  }
  return finish_document();
}

// First non-blank line's keys decide; an unreadable first record is left to the loader to report.
std::string detect_jsonl_format(const std::filesystem::path& file) {
  std::ifstream stream(file);
  std::string line;
  while (std::getline(stream, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto record = parse_object(line);
    if (!record) return "";
    if (record->contains("messages")) return "chat";
    if (record->contains("prompt") || record->contains("instruction")) return "instruction";
    if (record->contains("text")) return "jsonl";
    if (record->contains("input_ids")) return "tokens";
    return "";
  }
  return "";
}

}  // namespace

std::string alpaca_prompt(std::string_view instruction, std::string_view input) {
  std::string prompt;
  if (input.empty()) {
    prompt = "Below is an instruction that describes a task. Write a response that appropriately completes the "
             "request.\n\n### Instruction:\n";
    prompt += instruction;
  } else {
    prompt = "Below is an instruction that describes a task, paired with an input that provides further context. "
             "Write a response that appropriately completes the request.\n\n### Instruction:\n";
    prompt += instruction;
    prompt += "\n\n### Input:\n";
    prompt += input;
  }
  prompt += "\n\n### Response:\n";
  return prompt;
}

sdk::Result<TokenDataset> load_text_dataset(const std::filesystem::path& file, std::string_view format,
                                            const Tokenizer& tokenizer, const TextDatasetOptions& options,
                                            TokenStoreWriter store) {
  std::string chosen(format);
  if (chosen == "auto") {
    std::string extension = file.extension().string();
    if (extension == ".txt") {
      chosen = "text";
    } else if (extension == ".jsonl" || extension == ".json") {
      chosen = detect_jsonl_format(file);
      if (chosen.empty()) {
        return Error::invalid_input(file.string() + ": cannot tell the format from the first record (expected "
                                    "\"messages\", \"prompt\"/\"completion\", \"instruction\"/\"output\", \"text\" "
                                    "or \"input_ids\")");
      }
    } else {
      return Error::invalid_input(file.string() + ": cannot tell the format from the extension \"" + extension +
                                  "\" (.txt, .jsonl or .json; or name the format)");
    }
  }
  if (chosen == "tokens") return load_token_jsonl(file, tokenizer.vocab_size(), std::move(store));

  std::int64_t skipped_lines = 0;
  if (chosen == "text") {
    if (auto loaded = load_plain_text(file, tokenizer, store); !loaded) return loaded.error();
  } else if (chosen == "jsonl" || chosen == "instruction" || chosen == "chat") {
    std::optional<ChatTemplate> chat_template;
    if (chosen == "chat") {
      auto parsed = ChatTemplate::from_spec(options.chat_template, options.chat_template_begin);
      if (!parsed) return parsed.error();
      chat_template = std::move(*parsed);
    }
    std::ifstream stream(file);
    if (!stream) return Error::invalid_input(file.string() + ": cannot read");
    SpecialFrame frame = special_frame(tokenizer);
    std::string line;
    std::int64_t line_number = 0;
    while (std::getline(stream, line)) {
      ++line_number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto record = parse_object(line);
      Example example = record ? (chosen == "jsonl"         ? text_example(*record, frame, tokenizer)
                                  : chosen == "instruction" ? instruction_example(*record, frame, tokenizer)
                                                            : chat_example(*record, *chat_template, tokenizer))
                               : Example(record.error());
      if (!example) {
        if (options.skip_bad_lines) {
          ++skipped_lines;
          continue;
        }
        return Error::invalid_input(file.string() + ":" + std::to_string(line_number) + ": " + example.error().message);
      }
      if (auto added = add_example(store, *example, /*keep_mask=*/chosen != "jsonl"); !added) return added.error();
    }
  } else {
    return Error::invalid_input("data format \"" + chosen + "\": expected text, jsonl, instruction, chat or auto");
  }
  if (store.document_count() == 0) {
    std::string skipped =
        skipped_lines > 0 ? " (" + std::to_string(skipped_lines) + " malformed lines skipped)" : "";
    return Error::invalid_input(file.string() + ": no usable " + chosen +
                                " examples (each needs at least 2 tokens and one to train on)" + skipped);
  }
  auto finished = store.finish(skipped_lines);
  if (!finished) return finished.error();
  return TokenDataset(std::move(*finished));
}

}  // namespace fthost::data
