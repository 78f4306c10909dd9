// Atomic replacement: the target holds the old content or the whole new one, never a partial
// file, and a failed write leaves no temp file behind.

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

#include "model/atomic_file.hpp"
#include "model/safetensors.hpp"
#include "model_test_support.hpp"

namespace fthost::model {
namespace {

using testing::as_bytes;
using testing::folder_listing;
using testing::read_file;
using testing::TemporaryFolder;
using testing::write_file;

sdk::Result<std::uint64_t> write_text(const std::filesystem::path& target, std::string_view text) {
  const std::array pieces{as_bytes(text)};
  return write_file_atomically(target, pieces);
}

TEST_CASE("a successful write replaces the old content and leaves only the target") {
  TemporaryFolder folder;
  write_file(folder / "target.bin", "old content");
  const std::string first = "first piece|";
  const std::string second(100'000, 'x');
  const std::array pieces{as_bytes(first), as_bytes(std::string_view()), as_bytes(second)};
  sdk::Result<std::uint64_t> written = write_file_atomically(folder / "target.bin", pieces);
  REQUIRE_MESSAGE(written.ok(), written.error().message);
  CHECK(*written == first.size() + second.size());
  CHECK(read_file(folder / "target.bin") == first + second);
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"target.bin"});
}

TEST_CASE("a write that fails midway keeps the old content and removes the temp file") {
  TemporaryFolder folder;
  const std::filesystem::path target = folder / "model.safetensors";
  write_file(target, "old content");

  // A file-size limit makes write() fail with EFBIG partway through, like a full disk would.
  rlimit original{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &original) == 0);
  const auto original_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the process
  rlimit limited = original;
  limited.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  sdk::Result<std::uint64_t> written = write_text(target, std::string(100'000, 'n'));
  ::setrlimit(RLIMIT_FSIZE, &original);
  std::signal(SIGXFSZ, original_handler);

  REQUIRE_FALSE(written.ok());
  INFO("message: ", written.error().message);
  CHECK(written.error().message.starts_with(target.string() + ": cannot write: writing the temp file " +
                                            target.string() + ".tmp-"));
  CHECK(written.error().message.find("File too large") != std::string::npos);
  CHECK(read_file(target) == "old content");
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("a rename that fails removes the fully written temp file") {
  TemporaryFolder folder;
  // A non-empty folder where the file should go: everything succeeds up to the rename.
  std::filesystem::create_directory(folder / "model.safetensors");
  write_file(folder / "model.safetensors" / "keep", "kept");
  sdk::Result<std::uint64_t> written = write_safetensors(folder / "model.safetensors", {});
  REQUIRE_FALSE(written.ok());
  INFO("message: ", written.error().message);
  CHECK(written.error().message.find("renaming the temp file") != std::string::npos);
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"model.safetensors"});
  CHECK(read_file(folder / "model.safetensors" / "keep") == "kept");
}

TEST_CASE("writing into a read-only or missing folder fails cleanly") {
  TemporaryFolder folder;
  sdk::Result<std::uint64_t> missing = write_text(folder / "absent" / "file", "new");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("creating the temp file") != std::string::npos);

  if (::geteuid() == 0) {
    MESSAGE("read-only folder case skipped: root writes through folder permissions");
    return;
  }
  write_file(folder / "file", "old");
  std::filesystem::permissions(folder.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  sdk::Result<std::uint64_t> read_only = write_text(folder / "file", "new");
  std::filesystem::permissions(folder.path(), std::filesystem::perms::owner_all);
  REQUIRE_FALSE(read_only.ok());
  CHECK(read_only.error().message.find("Permission denied") != std::string::npos);
  CHECK(read_file(folder / "file") == "old");
  CHECK(folder_listing(folder.path()) == std::vector<std::string>{"file"});
}

}  // namespace
}  // namespace fthost::model
