#pragma once
// A whole file mapped read-only into memory: tensors are read where they lie, never copied.

#include <cstddef>
#include <filesystem>
#include <span>

#include "fthost/sdk/error.hpp"

namespace fthost::model {

class MappedFile {
 public:
  // Maps `path` read-only. Errors name the file: missing, not a regular file, unreadable.
  static sdk::Result<MappedFile> open_read_only(const std::filesystem::path& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // The file's bytes as they were when mapped. A file another process truncates while mapped
  // faults (SIGBUS) on access past its new end: checkpoints must be replaced by rename, as
  // write_file_atomically does, never rewritten in place.
  std::span<const std::byte> bytes() const;

 private:
  MappedFile(void* address, std::size_t size) : address_(address), size_(size) {}
  void unmap() noexcept;

  void* address_ = nullptr;  // nullptr for an empty file: mmap refuses zero-length mappings
  std::size_t size_ = 0;     // bytes
};

}  // namespace fthost::model
