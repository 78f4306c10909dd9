#include "data/tokenizer.hpp"

#include <fstream>
#include <sstream>

#include "data/tokenizer_added_tokens.hpp"
#include "data/tokenizer_bpe.hpp"
#include "data/tokenizer_decoder.hpp"
#include "data/tokenizer_json.hpp"
#include "data/tokenizer_normalizer.hpp"
#include "data/tokenizer_post_processor.hpp"
#include "data/tokenizer_pretokenizer.hpp"
#include "data/tokenizer_unicode.hpp"

namespace fthost::data {

using sdk::Error;
using tokenizer_json::Json;

struct Tokenizer::Pipeline {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  AddedVocabulary added;
  PostProcessor post_processor;
  Decoder decoder;
  std::optional<std::int32_t> bos_id;
  std::optional<std::int32_t> eos_id;
};

Tokenizer::Tokenizer(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

std::optional<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) return std::nullopt;
  std::ostringstream contents;
  contents << stream.rdbuf();
  return std::move(contents).str();
}

const Json& member_or_null(const Json& object, std::string_view key) {
  static const Json null_value;
  auto found = object.find(key);
  return found == object.end() ? null_value : *found;
}

// tokenizer_config.json's bos_token / eos_token: "<s>", {"content": "<s>", ...} or null. nullopt:
// the key is absent (so the template decides); an engaged empty string: null (no such token).
std::optional<std::string> configured_token(const Json& config, std::string_view key) {
  auto found = config.find(key);
  if (found == config.end()) return std::nullopt;
  if (found->is_string()) return found->get<std::string>();
  if (found->is_object() && found->contains("content") && (*found)["content"].is_string()) {
    return (*found)["content"].get<std::string>();
  }
  return std::string();
}

}  // namespace

sdk::Result<Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::path file = std::filesystem::is_directory(path, ignored) ? path / "tokenizer.json" : path;
  auto text = read_file(file);
  if (!text) return Error::invalid_input(file.string() + ": cannot read");
  auto config = read_file(file.parent_path() / "tokenizer_config.json");
  return parse(*text, file.string(), config.value_or(std::string()));
}

sdk::Result<Tokenizer> Tokenizer::parse(std::string_view tokenizer_json, std::string_view source,
                                        std::string_view tokenizer_config) {
  namespace json = tokenizer_json;
  std::string where(source);
  Json root;
  try {
    root = Json::parse(tokenizer_json);
  } catch (const Json::parse_error& error) {
    return Error::invalid_input(where + ": not valid JSON (" + error.what() + ")");
  }
  auto pipeline = std::make_unique<Pipeline>();
  try {
    if (!root.is_object()) json::malformed("(top level)", "expected an object");
    const Json& model = json::require(root, "model", "");
    std::string type = model.contains("type") ? json::require_string(model, "type", "model") : "BPE";
    if (type != "BPE") {
      json::unsupported("model.type", "\"" + type + "\" is not supported (fthost implements BPE)");
    }
    pipeline->model = BpeModel::parse(model, "model");
    pipeline->normalizer = Normalizer::parse(member_or_null(root, "normalizer"), "normalizer");
    pipeline->pre_tokenizer = PreTokenizer::parse(member_or_null(root, "pre_tokenizer"), "pre_tokenizer");
    pipeline->post_processor = PostProcessor::parse(member_or_null(root, "post_processor"), "post_processor");
    pipeline->decoder = Decoder::parse(member_or_null(root, "decoder"), "decoder");
    pipeline->added = AddedVocabulary::parse(member_or_null(root, "added_tokens"), "added_tokens",
                                             pipeline->normalizer, pipeline->model);
  } catch (const json::ConfigError& error) {
    std::string message = where + ": " + error.path + ": " + error.message;
    return error.unsupported ? Error::not_implemented(message) : Error::invalid_input(message);
  } catch (const Json::exception& error) {
    return Error::invalid_input(where + ": unexpected JSON shape (" + error.what() + ")");
  }

  Tokenizer tokenizer(std::move(pipeline));
  Json config;
  if (!tokenizer_config.empty()) {
    config = Json::parse(tokenizer_config, nullptr, false);  // a broken config only loses bos/eos
    if (config.is_discarded() || !config.is_object()) config = Json::object();
  }
  auto special_id = [&](std::string_view key, const std::vector<std::int32_t>& template_ids,
                        bool first) -> std::optional<std::int32_t> {
    if (auto token = configured_token(config, key)) {
      return token->empty() ? std::nullopt : tokenizer.token_to_id(*token);
    }
    if (template_ids.empty()) return std::nullopt;
    return first ? template_ids.front() : template_ids.back();
  };
  tokenizer.pipeline_->bos_id = special_id("bos_token", tokenizer.pipeline_->post_processor.prefix_ids(), true);
  tokenizer.pipeline_->eos_id = special_id("eos_token", tokenizer.pipeline_->post_processor.suffix_ids(), false);
  return tokenizer;
}

std::vector<std::int32_t> Tokenizer::encode_with(std::string_view text, bool add_special_tokens, bool reference) const {
  const Pipeline& pipeline = *pipeline_;
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::utf8_lossy(text);
    text = repaired;
  }
  std::vector<std::int32_t> ids;
  std::vector<TextSegment> raw_segments;
  std::vector<TextSegment> normalized_segments;
  std::string normalized_storage;
  // Per thread and kept between calls: once grown, splitting text allocates nothing.
  thread_local TextPieces words;
  thread_local PreTokenizerScratch scratch;
  pipeline.added.split_raw(text, raw_segments);
  for (const TextSegment& raw : raw_segments) {
    if (raw.token_id >= 0) {
      ids.push_back(raw.token_id);
      continue;
    }
    if (raw.end == raw.begin) continue;
    std::string_view stretch = text.substr(raw.begin, raw.end - raw.begin);
    if (!pipeline.normalizer.empty()) normalized_storage = pipeline.normalizer.apply(stretch);
    std::string_view normalized = pipeline.normalizer.empty() ? stretch : std::string_view(normalized_storage);
    normalized_segments.clear();
    pipeline.added.split_normalized(normalized, normalized_segments);
    for (const TextSegment& segment : normalized_segments) {
      if (segment.token_id >= 0) {
        ids.push_back(segment.token_id);
        continue;
      }
      std::string_view piece = normalized.substr(segment.begin, segment.end - segment.begin);
      pipeline.pre_tokenizer.split(piece, raw.begin == 0 && segment.begin == 0, words, scratch);
      for (const TextPieces::Piece& word : words.pieces) {
        if (reference) pipeline.model.encode_word_reference(words.view(word), ids);
        else pipeline.model.encode_word(words.view(word), ids);
      }
    }
  }
  pipeline.post_processor.apply(ids, add_special_tokens);
  return ids;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode_with(text, add_special_tokens, false);
}

std::vector<std::int32_t> Tokenizer::encode_reference(std::string_view text, bool add_special_tokens) const {
  return encode_with(text, add_special_tokens, true);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  const Pipeline& pipeline = *pipeline_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int32_t id : ids) {
    const std::string* token = pipeline.added.decoded_form(id);
    if (token == nullptr) token = pipeline.model.id_to_token(id);
    if (token == nullptr) continue;
    // As `tokenizers`: a token is skipped when its string is a special token's content.
    if (skip_special_tokens && pipeline.added.is_special_content(*token)) continue;
    tokens.push_back(*token);
  }
  return pipeline.decoder.decode(std::move(tokens));
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = pipeline_->added.token_to_id(token)) return id;
  return pipeline_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const {
  const std::string* token = pipeline_->added.decoded_form(id);
  if (token == nullptr) token = pipeline_->model.id_to_token(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

std::int64_t Tokenizer::vocab_size() const {
  return std::max(pipeline_->model.id_limit(), pipeline_->added.id_limit());
}

std::optional<std::int32_t> Tokenizer::bos_id() const { return pipeline_->bos_id; }
std::optional<std::int32_t> Tokenizer::eos_id() const { return pipeline_->eos_id; }

}  // namespace fthost::data
