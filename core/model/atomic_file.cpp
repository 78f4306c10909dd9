#include "model/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace fthost::model {
namespace {

sdk::Error write_error(const std::filesystem::path& target, const std::string& step, int error_number) {
  return sdk::Error::invalid_input(target.string() + ": cannot write: " + step + ": " + std::strerror(error_number));
}

}  // namespace

int write_fully(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ::ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
  return 0;
}

int sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int result = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return result;
}

sdk::Result<std::uint64_t> write_file_atomically(const std::filesystem::path& target,
                                                 std::span<const std::span<const std::byte>> pieces) {
  std::filesystem::path temp = target;
  temp += ".tmp-" + std::to_string(::getpid());
  const std::string temp_step = " the temp file " + temp.string();

  // O_TRUNC rather than O_EXCL: a leftover temp with our pid belongs to a dead process (pids are
  // reused), so it is ours to overwrite.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return write_error(target, "creating" + temp_step, errno);

  auto abandon = [&](const std::string& step, int error_number) {
    ::unlink(temp.c_str());
    return write_error(target, step, error_number);
  };
  std::uint64_t written = 0;
  for (std::span<const std::byte> piece : pieces) {
    if (int error_number = write_fully(fd, piece); error_number != 0) {
      ::close(fd);
      return abandon("writing" + temp_step, error_number);
    }
    written += piece.size();
  }
  if (::fsync(fd) != 0) {
    const int error_number = errno;
    ::close(fd);
    return abandon("syncing" + temp_step, error_number);
  }
  // close reports write-back errors some file systems (NFS) hold back until then.
  if (::close(fd) != 0) {
    const int error_number = errno;
    return abandon("closing" + temp_step, error_number);
  }
  if (std::rename(temp.c_str(), target.c_str()) != 0) {
    const int error_number = errno;
    return abandon("renaming" + temp_step + " over it", error_number);
  }

  std::filesystem::path folder = target.parent_path();
  if (folder.empty()) folder = ".";
  if (int error_number = sync_folder(folder); error_number != 0) {
    return write_error(target, "syncing its folder after the rename (the new file is in place)", error_number);
  }
  return written;
}

}  // namespace fthost::model
