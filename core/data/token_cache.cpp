#include "data/token_cache.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "backend/counter_random.hpp"
#include "model/atomic_file.hpp"

namespace fthost::data {
namespace {

constexpr char magic[8] = {'F', 'T', 'H', 'T', 'O', 'K', '0', '1'};

// Two independent 64-bit hashes of a byte stream, fed in chunks: FNV-1a over bytes, and
// SplitMix64's mixer over 8-byte words with their position.
struct StreamHash {
  std::uint64_t fnv = 0xCBF29CE484222325ULL;
  std::uint64_t mixed = 0x9E3779B97F4A7C15ULL;
  std::uint64_t position = 0;

  void add(const char* bytes, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      fnv = (fnv ^ static_cast<unsigned char>(bytes[i])) * 0x100000001B3ULL;
      mixed = backend::counter_mix(mixed ^ static_cast<unsigned char>(bytes[i]), position++);
    }
  }
  void add(const std::string& text) {
    const std::uint64_t size = text.size();
    add(reinterpret_cast<const char*>(&size), sizeof size);  // lengths keep "ab"+"c" apart from "a"+"bc"
    add(text.data(), text.size());
  }
};

template <typename T>
void append_value(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
bool read_value(const std::string& bytes, std::size_t& at, T& value) {
  if (bytes.size() - at < sizeof(T)) return false;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  at += sizeof(T);
  return true;
}

}  // namespace

std::filesystem::path default_token_cache_folder() {
  if (const char* folder = std::getenv("FTHOST_CACHE_DIR"); folder != nullptr && *folder != '\0') {
    return std::filesystem::path(folder) / "tokenized";
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "fthost" / "tokenized";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "/tmp") / ".cache" / "fthost" / "tokenized";
}

sdk::Result<std::string> token_cache_key(const std::vector<std::filesystem::path>& files, const std::string& settings) {
  StreamHash hash;
  hash.add(settings);
  std::vector<char> buffer(1 << 16);
  for (const std::filesystem::path& file : files) {
    std::error_code error;
    if (!std::filesystem::exists(file, error)) {
      hash.add(std::string("absent"));
      continue;
    }
    std::ifstream stream(file, std::ios::binary);
    if (!stream) return sdk::Error::invalid_input(file.string() + ": cannot read");
    while (stream) {
      stream.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      hash.add(buffer.data(), static_cast<std::size_t>(stream.gcount()));
    }
    hash.add(std::string("end of file"));
  }
  char key[40];
  std::snprintf(key, sizeof key, "%016llx%016llx", static_cast<unsigned long long>(hash.fnv),
                static_cast<unsigned long long>(hash.mixed));
  return std::string(key);
}

std::optional<TokenDataset> read_token_cache(const std::filesystem::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  std::size_t at = 0;
  if (bytes.size() < sizeof magic || std::memcmp(bytes.data(), magic, sizeof magic) != 0) return std::nullopt;
  at = sizeof magic;
  std::uint64_t documents = 0, tokens = 0, masked = 0, skipped = 0;
  if (!read_value(bytes, at, documents) || !read_value(bytes, at, tokens) || !read_value(bytes, at, masked) ||
      !read_value(bytes, at, skipped)) {
    return std::nullopt;
  }
  // Exact size check before any allocation: a damaged header cannot ask for absurd memory.
  const std::uint64_t expected = at + documents * 8 + tokens * 4 + (masked != 0 ? tokens : 0);
  if (documents > bytes.size() || tokens > bytes.size() || expected != bytes.size()) return std::nullopt;
  TokenDataset dataset;
  dataset.skipped_lines = static_cast<std::int64_t>(skipped);
  std::vector<std::uint64_t> lengths(documents);
  std::uint64_t total = 0;
  for (std::uint64_t& length : lengths) {
    read_value(bytes, at, length);
    total += length;
  }
  if (total != tokens) return std::nullopt;
  const char* token_bytes = bytes.data() + at;
  const char* mask_bytes = token_bytes + tokens * 4;
  std::uint64_t offset = 0;
  for (std::uint64_t length : lengths) {
    std::vector<std::int32_t>& document = dataset.documents.emplace_back(length);
    std::memcpy(document.data(), token_bytes + offset * 4, length * 4);
    if (masked != 0) {
      std::vector<std::uint8_t>& mask = dataset.trainable.emplace_back(length);
      std::memcpy(mask.data(), mask_bytes + offset, length);
    }
    offset += length;
  }
  dataset.token_count = static_cast<std::int64_t>(tokens);
  return dataset;
}

sdk::Result<bool> write_token_cache(const std::filesystem::path& file, const TokenDataset& dataset) {
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  if (error) return sdk::Error::invalid_input(file.parent_path().string() + ": cannot create folder (" + error.message() + ")");
  std::uint64_t tokens = 0;
  for (const auto& document : dataset.documents) tokens += document.size();
  std::string header(magic, sizeof magic);
  append_value<std::uint64_t>(header, dataset.documents.size());
  append_value<std::uint64_t>(header, tokens);
  append_value<std::uint64_t>(header, dataset.trainable.empty() ? 0 : 1);
  append_value<std::uint64_t>(header, static_cast<std::uint64_t>(dataset.skipped_lines));
  for (const auto& document : dataset.documents) append_value<std::uint64_t>(header, document.size());
  std::vector<std::span<const std::byte>> pieces = {std::as_bytes(std::span<const char>(header))};
  for (const auto& document : dataset.documents) pieces.push_back(std::as_bytes(std::span(document)));
  for (const auto& mask : dataset.trainable) pieces.push_back(std::as_bytes(std::span(mask)));
  auto written = model::write_file_atomically(file, pieces);
  if (!written) return written.error();
  return true;
}

}  // namespace fthost::data
