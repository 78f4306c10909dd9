#pragma once
// A tokenized copy of a text dataset on disk, so a second run over the same file (a resume, a
// new learning rate) does not tokenize it again. The key is a 128-bit hash of everything the
// tokens depend on: the data file's bytes, tokenizer.json and tokenizer_config.json's bytes, the
// format and the text options. Any change makes a new key; a damaged or foreign cache file is
// ignored (and rewritten), never trusted.
//
// Where: $FTHOST_CACHE_DIR/tokenized, else $XDG_CACHE_HOME/fthost/tokenized, else
// ~/.cache/fthost/tokenized. Files: <key>.tokens, token stores (token_store.hpp) written while the
// text is tokenized (TokenStoreWriter::to_file: atomically) and mapped when read.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/token_dataset.hpp"
#include "fthost/sdk/error.hpp"

namespace fthost::data {

std::filesystem::path default_token_cache_folder();

// Hex key over the contents of `files` (a missing file counts as empty) and `settings`.
sdk::Result<std::string> token_cache_key(const std::vector<std::filesystem::path>& files, const std::string& settings);

// The dataset stored in `file`, mapped, or nothing when it is absent, truncated or not a cache file
// of this version.
std::optional<TokenDataset> read_token_cache(const std::filesystem::path& file);

}  // namespace fthost::data
