#include "data/token_cache.hpp"

#include <cstdlib>
#include <fstream>

#include "backend/counter_random.hpp"

namespace fthost::data {
namespace {

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
  std::optional<TokenStore> store = TokenStore::open_file(file);
  if (!store) return std::nullopt;
  return TokenDataset(std::make_shared<const TokenStore>(std::move(*store)));
}

}  // namespace fthost::data
