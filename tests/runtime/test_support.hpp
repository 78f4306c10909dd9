#pragma once
// Temporary folders holding copies of the test plugins, so each test controls its search path.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace fthost::testing {

class TemporaryFolder {
 public:
  TemporaryFolder() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("fthost-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }

  void write(const std::string& relative, const std::string& content) const {
    std::filesystem::path target = path_ / relative;
    std::filesystem::create_directories(target.parent_path());
    std::ofstream(target) << content;
  }

 private:
  std::filesystem::path path_;
};

// The built test plugin "variant" (a folder under tests/runtime/test_plugins).
inline std::filesystem::path test_plugin(const std::string& variant) {
  std::string file = variant == "not_a_plugin" ? "libfthost-not_a_plugin.so" : "libfthost-" + variant + ".so";
  return std::filesystem::path(FTHOST_TEST_PLUGIN_ROOT) / variant / file;
}

// Copies a test plugin into `folder`, optionally under another file name.
inline std::filesystem::path install_test_plugin(const TemporaryFolder& folder, const std::string& variant,
                                                 const std::string& file_name = "") {
  std::filesystem::path source = test_plugin(variant);
  std::filesystem::path target = folder.path() / (file_name.empty() ? source.filename().string() : file_name);
  std::filesystem::copy_file(source, target, std::filesystem::copy_options::overwrite_existing);
  return target;
}

}  // namespace fthost::testing
