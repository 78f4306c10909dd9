#pragma once
// Replacing a file so that a crash, a full disk or a concurrent reader never sees it half written.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

#include "fthost/sdk/error.hpp"

namespace fthost::model {

// Makes renames and new entries inside `folder` durable (fsync of the folder). Returns 0 or an errno.
int sync_folder(const std::filesystem::path& folder);

// Writes all of `bytes` at the descriptor's position, resuming after partial writes and signals.
// Returns 0 or an errno.
int write_fully(int fd, std::span<const std::byte> bytes);

// Writes the concatenation of `pieces` to `target`: first into "<target>.tmp-<pid>" in the same
// folder, fsynced, then renamed over `target`, then the folder fsynced so the rename itself
// survives a power cut. Any reader sees the old file or the whole new one. On failure the temp
// file is removed, `target` is left as it was, and the error names `target` and the step that
// failed. One writer per target at a time: two threads of one process writing the same target
// would share the temp name. Returns the bytes written.
sdk::Result<std::uint64_t> write_file_atomically(const std::filesystem::path& target,
                                                 std::span<const std::span<const std::byte>> pieces);

}  // namespace fthost::model
