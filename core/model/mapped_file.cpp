#include "model/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace fthost::model {
namespace {

sdk::Error open_error(const std::filesystem::path& path, std::string_view what, int error_number) {
  return sdk::Error::invalid_input(path.string() + ": " + std::string(what) + ": " + std::strerror(error_number));
}

// Closes the descriptor on every return path; the mapping outlives it.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

sdk::Result<MappedFile> MappedFile::open_read_only(const std::filesystem::path& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return open_error(path, "cannot open", errno);

  struct stat status {};
  if (::fstat(file.fd, &status) != 0) return open_error(path, "cannot stat", errno);
  if (!S_ISREG(status.st_mode)) return sdk::Error::invalid_input(path.string() + ": not a regular file");

  const auto size = static_cast<std::size_t>(status.st_size);
  if (size == 0) return MappedFile(nullptr, 0);
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (address == MAP_FAILED) return open_error(path, "cannot map into memory", errno);
  return MappedFile(address, size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : address_(std::exchange(other.address_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    address_ = std::exchange(other.address_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { unmap(); }

std::span<const std::byte> MappedFile::bytes() const { return {static_cast<const std::byte*>(address_), size_}; }

void MappedFile::unmap() noexcept {
  if (address_ != nullptr) ::munmap(address_, size_);
  address_ = nullptr;
  size_ = 0;
}

}  // namespace fthost::model
