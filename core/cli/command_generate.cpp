// `fthost generate`: text from a model folder (and optionally an adapter), streamed to stdout as
// it is produced, with a key/value cache so each token costs one token's forward pass.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "backend/cpu/cpu_backend.hpp"
#include "cli.hpp"
#include "command_options.hpp"
#include "data/tokenizer.hpp"
#include "model/generation.hpp"
#include "model/model_weights.hpp"

namespace po = boost::program_options;

namespace fthost::cli {
namespace {

constexpr std::string_view generate_usage =
    "usage: fthost generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-file FILE)\n"
    "                       [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed N]\n\n"
    "Continues the prompt with the model (tokenized by its tokenizer.json, special tokens added as the\n"
    "tokenizer configures, e.g. Llama's BOS) and streams the new text to stdout. Stops at the model's\n"
    "end-of-sequence token or after --max-new-tokens. Sampling follows Hugging Face's generate():\n"
    "temperature 0 (the default) is greedy; otherwise logits / temperature, then top-k, then top-p,\n"
    "then a seeded draw. A summary (tokens, tokens/s) goes to stderr.\n";

// The end-of-sequence id: the tokenizer's eos_token, else config.json's eos_token_id.
std::optional<std::int32_t> end_of_sequence(const data::Tokenizer& tokenizer, const model::ModelConfig& config) {
  if (auto eos = tokenizer.eos_id()) return eos;
  if (config.eos_token_id >= 0) return static_cast<std::int32_t>(config.eos_token_id);
  return std::nullopt;
}

// Text decoded so far may end inside a multi-byte character (byte-fallback tokens): hold back a
// trailing U+FFFD until the next token completes it.
std::size_t printable_length(const std::string& text) {
  const std::string replacement = "\xEF\xBF\xBD";
  return text.ends_with(replacement) ? text.size() - replacement.size() : text.size();
}

}  // namespace

int run_generate_command(const Arguments& arguments) {
  std::string model_path;
  std::string adapter_path;
  std::string backend_name = "auto";
  std::string prompt;
  std::string prompt_file;
  std::int64_t max_new_tokens = 64;
  model::SamplingSettings sampling;
  std::uint64_t seed = 0;
  po::options_description options("generate options");
  options.add_options()("help,h", "show this help")("model", po::value(&model_path)->required(),
                                                     "Hugging Face model folder (with tokenizer.json)")(
      "adapter", po::value(&adapter_path), "adapter folder (PEFT's layout, from fthost or PEFT) applied to the model")(
      "backend", po::value(&backend_name)->default_value("auto"),
      "auto | cpu | cuda: where to run (auto: the GPU when this build has the CUDA backend and one is present)")(
      "prompt", po::value(&prompt), "the text to continue")("prompt-file", po::value(&prompt_file),
                                                             "read the prompt from this file instead")(
      "max-new-tokens", po::value(&max_new_tokens)->default_value(64), "tokens to generate at most")(
      "temperature", po::value(&sampling.temperature)->default_value(0.0), "0: greedy; > 0: sample")(
      "top-k", po::value(&sampling.top_k)->default_value(0), "sample among the k most likely tokens (0: all)")(
      "top-p", po::value(&sampling.top_p)->default_value(1.0),
      "sample among the most likely tokens whose probability reaches p (1: all)")(
      "seed", po::value(&seed)->default_value(0), "seed of the sampling draws");
  po::variables_map variables;
  if (auto done = parse_options(arguments, options, generate_usage, variables)) return *done;
  if (prompt.empty() == prompt_file.empty()) {
    return report_error(sdk::Error::invalid_input("command line: give exactly one of --prompt and --prompt-file"));
  }
  if (max_new_tokens < 1) return report_error(sdk::Error::invalid_input("command line: --max-new-tokens must be at least 1"));
  if (sampling.temperature < 0.0) return report_error(sdk::Error::invalid_input("command line: --temperature must be >= 0"));
  if (sampling.top_k < 0) return report_error(sdk::Error::invalid_input("command line: --top-k must be >= 0"));
  if (!(sampling.top_p > 0.0 && sampling.top_p <= 1.0)) {
    return report_error(sdk::Error::invalid_input("command line: --top-p must be in (0, 1]"));
  }
  if (!prompt_file.empty()) {
    std::ifstream stream(prompt_file, std::ios::binary);
    if (!stream) return report_error(sdk::Error::invalid_input(prompt_file + ": cannot read"));
    std::stringstream text;
    text << stream.rdbuf();
    prompt = text.str();
  }

  const std::filesystem::path tokenizer_file = std::filesystem::path(model_path) / "tokenizer.json";
  auto tokenizer = data::Tokenizer::load(tokenizer_file);
  if (!tokenizer) return report_error(tokenizer.error());
  auto loaded = load_model_for_use(model_path, adapter_path, backend_name);
  if (!loaded) return report_error(loaded.error());
  model::Transformer& transformer = *loaded->model;

  std::vector<std::int32_t> prompt_ids = tokenizer->encode(prompt, true);
  if (prompt_ids.empty()) return report_error(sdk::Error::invalid_input("--prompt: the prompt has no tokens"));
  for (std::int32_t id : prompt_ids) {
    if (id >= transformer.config().vocab_size) {
      return report_error(sdk::Error::invalid_input(tokenizer_file.string() + ": token id " + std::to_string(id) +
                                                    " is outside the model's vocabulary of " +
                                                    std::to_string(transformer.config().vocab_size)));
    }
  }
  std::int64_t capacity = static_cast<std::int64_t>(prompt_ids.size()) + max_new_tokens;
  const std::int64_t limit = transformer.config().max_position_embeddings;
  if (static_cast<std::int64_t>(prompt_ids.size()) >= limit) {
    return report_error(sdk::Error::invalid_input("--prompt: " + std::to_string(prompt_ids.size()) +
                                                  " tokens leave no room in the model's " + std::to_string(limit) +
                                                  " positions (max_position_embeddings)"));
  }
  capacity = std::min(capacity, limit);
  const std::optional<std::int32_t> eos = end_of_sequence(*tokenizer, transformer.config());

  auto started = std::chrono::steady_clock::now();
  model::Generator generator(transformer, capacity);
  model::Sampler sampler(sampling, seed);
  std::vector<float> logits = generator.feed(prompt_ids);
  std::vector<std::int32_t> generated;
  std::size_t printed = 0;
  const char* stop_reason = "--max-new-tokens reached";
  while (true) {
    const std::int32_t token = sampler.next(logits);
    if (eos && token == *eos) {
      stop_reason = "end of sequence";
      break;
    }
    generated.push_back(token);
    const std::string text = tokenizer->decode(generated, true);
    const std::size_t ready = printable_length(text);
    if (ready > printed && text.compare(0, printed, text, 0, printed) == 0) {
      std::cout << text.substr(printed, ready - printed) << std::flush;
      printed = ready;
    }
    if (static_cast<std::int64_t>(generated.size()) >= max_new_tokens) break;
    if (generator.length() >= generator.capacity()) {
      stop_reason = "the model's max_position_embeddings reached";
      break;
    }
    logits = generator.feed(std::span(&generated.back(), 1));
  }
  const std::string text = tokenizer->decode(generated, true);
  if (text.size() > printed) std::cout << text.substr(printed);
  std::cout << "\n" << std::flush;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "generated %zu tokens after a %zu-token prompt in %.2f s (%.1f tokens/s); stopped: %s\n",
               generated.size(), prompt_ids.size(), seconds,
               seconds > 0 ? static_cast<double>(generated.size()) / seconds : 0.0, stop_reason);
  return exit_ok;
}

}  // namespace fthost::cli
