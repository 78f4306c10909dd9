#include "data/token_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/atomic_file.hpp"

namespace fthost::data {
namespace {

using sdk::Error;

constexpr char magic[8] = {'F', 'T', 'H', 'T', 'O', 'K', '0', '2'};
constexpr std::uint64_t header_bytes = 64;

struct Header {
  char magic[8];
  std::uint64_t documents;
  std::uint64_t tokens;
  std::uint64_t masked;
  std::uint64_t skipped_lines;
  std::uint64_t tokens_at;   // byte positions of the sections
  std::uint64_t masks_at;
  std::uint64_t offsets_at;
};
static_assert(sizeof(Header) == header_bytes);

std::uint64_t align8(std::uint64_t at) { return (at + 7) / 8 * 8; }

// Where the sections of a store with these counts lie, and its size.
struct Layout {
  std::uint64_t tokens_at = header_bytes;
  std::uint64_t masks_at = 0;
  std::uint64_t offsets_at = 0;
  std::uint64_t size = 0;
};

Layout layout_of(std::uint64_t documents, std::uint64_t tokens, bool masked) {
  Layout layout;
  layout.masks_at = align8(layout.tokens_at + tokens * 4);
  layout.offsets_at = masked ? align8(layout.masks_at + tokens) : layout.masks_at;
  layout.size = layout.offsets_at + (documents + 1) * 8;
  return layout;
}

Error io_error(const std::filesystem::path& file, const std::string& step, int error_number) {
  return Error::invalid_input(file.string() + ": cannot write the token store: " + step + ": " +
                              std::strerror(error_number));
}

// An owned descriptor with a write buffer of 1 MiB.
class BufferedFile {
 public:
  BufferedFile() = default;
  explicit BufferedFile(int fd) : fd_(fd) { buffer_.reserve(capacity); }
  BufferedFile(BufferedFile&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)), written_(other.written_) {}
  BufferedFile& operator=(BufferedFile&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
      buffer_ = std::move(other.buffer_);
      written_ = other.written_;
    }
    return *this;
  }
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;
  ~BufferedFile() { close(); }

  int fd() const { return fd_; }
  std::uint64_t size() const { return written_; }  // bytes appended, buffered ones included

  int append(std::span<const std::byte> bytes) {
    written_ += bytes.size();
    if (buffer_.size() + bytes.size() > capacity) {
      if (int error_number = flush(); error_number != 0) return error_number;
      if (bytes.size() > capacity) return model::write_fully(fd_, bytes);
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    return 0;
  }
  int pad_to_8() {
    static constexpr std::byte zeros[8] = {};
    return append(std::span(zeros, align8(written_) - written_));
  }
  int flush() {
    const int error_number = model::write_fully(fd_, buffer_);
    buffer_.clear();
    return error_number;
  }
  // Appends everything `source` holds (its descriptor read from the start).
  int append_contents_of(BufferedFile& source) {
    if (int error_number = source.flush(); error_number != 0) return error_number;
    if (::lseek(source.fd_, 0, SEEK_SET) < 0) return errno;
    std::vector<std::byte> chunk(capacity);
    for (;;) {
      const ::ssize_t got = ::read(source.fd_, chunk.data(), chunk.size());
      if (got < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (got == 0) return 0;
      if (int error_number = append(std::span(chunk.data(), static_cast<std::size_t>(got))); error_number != 0) {
        return error_number;
      }
    }
  }
  int close() {
    if (fd_ < 0) return 0;
    const int result = ::close(std::exchange(fd_, -1)) == 0 ? 0 : errno;
    return result;
  }

 private:
  static constexpr std::size_t capacity = std::size_t{1} << 20;
  int fd_ = -1;
  std::vector<std::byte> buffer_;
  std::uint64_t written_ = 0;
};

// A file in `folder` with no name: removed by the kernel when closed, whatever happens.
sdk::Result<BufferedFile> unnamed_file(const std::filesystem::path& folder, const std::string& stem) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path path =
      folder / (stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".part");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error(path, "creating a side file", errno);
  ::unlink(path.c_str());
  return BufferedFile(fd);
}

template <typename T>
std::span<const std::byte> bytes_of(std::span<const T> values) {
  return std::as_bytes(values);
}

}  // namespace

TokenStore::TokenStore(std::vector<std::int32_t> tokens, std::vector<std::uint8_t> trainable,
                       std::vector<std::uint64_t> offsets, std::int64_t skipped_lines)
    : owned_tokens_(std::move(tokens)),
      owned_trainable_(std::move(trainable)),
      owned_offsets_(std::move(offsets)),
      skipped_lines_(skipped_lines) {
  if (owned_offsets_.empty()) owned_offsets_.push_back(0);
  if (owned_offsets_.front() != 0 || owned_offsets_.back() != owned_tokens_.size() ||
      (!owned_trainable_.empty() && owned_trainable_.size() != owned_tokens_.size())) {
    throw std::logic_error("token store: offsets or masks do not match " + std::to_string(owned_tokens_.size()) +
                           " tokens");
  }
  tokens_ = owned_tokens_;
  trainable_ = owned_trainable_;
  offsets_ = owned_offsets_;
}

std::optional<TokenStore> TokenStore::open_file(const std::filesystem::path& file) {
  sdk::Result<model::MappedFile> mapped = model::MappedFile::open_read_only(file);
  if (!mapped) return std::nullopt;
  const std::span<const std::byte> bytes = mapped->bytes();
  Header header{};
  if (bytes.size() < header_bytes) return std::nullopt;
  std::memcpy(&header, bytes.data(), sizeof header);
  if (std::memcmp(header.magic, magic, sizeof magic) != 0) return std::nullopt;
  // Counts bounded by the size before any arithmetic on them: a damaged header cannot overflow.
  if (header.documents > bytes.size() || header.tokens > bytes.size() || header.masked > 1) return std::nullopt;
  const Layout layout = layout_of(header.documents, header.tokens, header.masked != 0);
  if (layout.size != bytes.size() || layout.tokens_at != header.tokens_at || layout.masks_at != header.masks_at ||
      layout.offsets_at != header.offsets_at) {
    return std::nullopt;
  }
  TokenStore store;
  const std::byte* base = bytes.data();
  // The mapping is page-aligned and every section 8-byte aligned.
  store.tokens_ = {reinterpret_cast<const std::int32_t*>(base + layout.tokens_at), header.tokens};
  if (header.masked != 0) store.trainable_ = {reinterpret_cast<const std::uint8_t*>(base + layout.masks_at), header.tokens};
  store.offsets_ = {reinterpret_cast<const std::uint64_t*>(base + layout.offsets_at), header.documents + 1};
  if (store.offsets_.front() != 0 || store.offsets_.back() != header.tokens) return std::nullopt;
  for (std::size_t d = 0; d < header.documents; ++d) {
    if (store.offsets_[d + 1] < store.offsets_[d]) return std::nullopt;
  }
  store.skipped_lines_ = static_cast<std::int64_t>(header.skipped_lines);
  store.mapping_ = std::move(*mapped);  // moving a mapping keeps its address
  return store;
}

std::span<const std::int32_t> TokenStore::tokens(std::uint64_t first, std::uint64_t count) const {
  return tokens_.subspan(first, count);
}

std::span<const std::uint8_t> TokenStore::trainable(std::uint64_t first, std::uint64_t count) const {
  if (trainable_.empty()) return {};
  return trainable_.subspan(first, count);
}

struct TokenStoreWriter::State {
  enum class Kind { memory, file, temporary } kind = Kind::memory;
  std::optional<bool> masked;  // decided by the first document
  std::uint64_t documents = 0;
  std::uint64_t tokens = 0;
  // memory
  std::vector<std::int32_t> token_values;
  std::vector<std::uint8_t> mask_values;
  std::vector<std::uint64_t> offsets{0};
  // file, temporary: tokens go to `main` (after room for the header), masks and offsets to side files
  std::filesystem::path target;  // the file finish() leaves (file) or maps and unlinks (temporary)
  std::filesystem::path written;  // the file being written
  BufferedFile main;
  BufferedFile masks;
  BufferedFile offsets_file;
  bool finished = false;

  ~State() {
    if (kind != Kind::memory && !finished) {
      main.close();
      ::unlink(written.c_str());
    }
  }

  sdk::Result<bool> open_files(const std::filesystem::path& folder, const std::string& stem) {
    main = BufferedFile(::open(written.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (main.fd() < 0) return io_error(target, "creating " + written.string(), errno);
    static constexpr std::byte room[header_bytes] = {};
    if (int error_number = main.append(room); error_number != 0) return io_error(target, "writing", error_number);
    auto mask_file = unnamed_file(folder, stem + ".masks");
    if (!mask_file) return mask_file.error();
    masks = std::move(*mask_file);
    auto offset_file = unnamed_file(folder, stem + ".offsets");
    if (!offset_file) return offset_file.error();
    offsets_file = std::move(*offset_file);
    return true;
  }
};

TokenStoreWriter::TokenStoreWriter() : state_(std::make_unique<State>()) {}
TokenStoreWriter::TokenStoreWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
TokenStoreWriter::TokenStoreWriter(TokenStoreWriter&& other) noexcept = default;
TokenStoreWriter& TokenStoreWriter::operator=(TokenStoreWriter&& other) noexcept = default;
TokenStoreWriter::~TokenStoreWriter() = default;

sdk::Result<TokenStoreWriter> TokenStoreWriter::to_file(const std::filesystem::path& target) {
  std::error_code error;
  std::filesystem::path folder = target.parent_path();
  if (folder.empty()) folder = ".";
  std::filesystem::create_directories(folder, error);
  if (error) return Error::invalid_input(folder.string() + ": cannot create folder (" + error.message() + ")");
  auto state = std::make_unique<State>();
  state->kind = State::Kind::file;
  state->target = target;
  state->written = target;
  state->written += ".tmp-" + std::to_string(::getpid());
  if (auto opened = state->open_files(folder, target.filename().string()); !opened) return opened.error();
  return TokenStoreWriter(std::move(state));
}

sdk::Result<TokenStoreWriter> TokenStoreWriter::to_temporary_file(const std::filesystem::path& folder) {
  static std::atomic<unsigned> counter{0};
  auto state = std::make_unique<State>();
  state->kind = State::Kind::temporary;
  const std::string stem = "fthost-tokens-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  state->target = folder / (stem + ".tokens");
  state->written = state->target;
  if (auto opened = state->open_files(folder, stem); !opened) return opened.error();
  return TokenStoreWriter(std::move(state));
}

std::size_t TokenStoreWriter::document_count() const { return static_cast<std::size_t>(state_->documents); }

sdk::Result<bool> TokenStoreWriter::add(std::span<const std::int32_t> tokens, std::span<const std::uint8_t> trainable) {
  State& state = *state_;
  const bool masked = !trainable.empty();
  if (masked && trainable.size() != tokens.size()) {
    throw std::logic_error("loss mask of " + std::to_string(trainable.size()) + " entries for a document of " +
                           std::to_string(tokens.size()) + " tokens");
  }
  if (!state.masked) state.masked = masked;
  if (*state.masked != masked) throw std::logic_error("token store: documents with and without loss masks mixed");
  state.documents += 1;
  state.tokens += tokens.size();
  if (state.kind == State::Kind::memory) {
    state.token_values.insert(state.token_values.end(), tokens.begin(), tokens.end());
    state.mask_values.insert(state.mask_values.end(), trainable.begin(), trainable.end());
    state.offsets.push_back(state.tokens);
    return true;
  }
  int error_number = state.main.append(bytes_of(tokens));
  if (error_number == 0 && masked) error_number = state.masks.append(bytes_of(trainable));
  if (error_number == 0) error_number = state.offsets_file.append(std::as_bytes(std::span(&state.tokens, 1)));
  if (error_number != 0) return io_error(state.target, "writing " + state.written.string(), error_number);
  return true;
}

sdk::Result<std::shared_ptr<const TokenStore>> TokenStoreWriter::finish(std::int64_t skipped_lines) {
  State& state = *state_;
  if (state.kind == State::Kind::memory) {
    return std::make_shared<const TokenStore>(std::move(state.token_values), std::move(state.mask_values),
                                              std::move(state.offsets), skipped_lines);
  }
  const bool masked = state.masked.value_or(false);
  const Layout layout = layout_of(state.documents, state.tokens, masked);
  Header header{};
  std::memcpy(header.magic, magic, sizeof magic);
  header.documents = state.documents;
  header.tokens = state.tokens;
  header.masked = masked ? 1 : 0;
  header.skipped_lines = static_cast<std::uint64_t>(skipped_lines);
  header.tokens_at = layout.tokens_at;
  header.masks_at = layout.masks_at;
  header.offsets_at = layout.offsets_at;
  const std::uint64_t zero = 0;
  int error_number = state.main.pad_to_8();
  if (error_number == 0 && masked) error_number = state.main.append_contents_of(state.masks);
  if (error_number == 0) error_number = state.main.pad_to_8();
  if (error_number == 0) error_number = state.main.append(std::as_bytes(std::span(&zero, 1)));
  if (error_number == 0) error_number = state.main.append_contents_of(state.offsets_file);
  if (error_number == 0) error_number = state.main.flush();
  if (error_number != 0) return io_error(state.target, "writing " + state.written.string(), error_number);
  state.masks.close();
  state.offsets_file.close();
  if (state.main.size() != layout.size) {
    return Error::internal(state.written.string() + ": token store of " + std::to_string(state.main.size()) +
                           " bytes, expected " + std::to_string(layout.size));
  }
  if (::pwrite(state.main.fd(), &header, sizeof header, 0) != static_cast<::ssize_t>(sizeof header)) {
    return io_error(state.target, "writing the header of " + state.written.string(), errno);
  }
  if (state.kind == State::Kind::file && ::fsync(state.main.fd()) != 0) {
    return io_error(state.target, "syncing " + state.written.string(), errno);
  }
  // close reports write-back errors some file systems (NFS) hold back until then.
  if (int closed = state.main.close(); closed != 0) {
    return io_error(state.target, "closing " + state.written.string(), closed);
  }
  if (state.kind == State::Kind::file) {
    if (std::rename(state.written.c_str(), state.target.c_str()) != 0) {
      return io_error(state.target, "renaming " + state.written.string() + " over it", errno);
    }
    state.finished = true;
    std::filesystem::path folder = state.target.parent_path();
    model::sync_folder(folder.empty() ? std::filesystem::path(".") : folder);
  }
  std::optional<TokenStore> store = TokenStore::open_file(state.target);
  if (state.kind == State::Kind::temporary) {
    ::unlink(state.target.c_str());  // the mapping keeps the pages until the store goes
    state.finished = true;
  }
  if (!store) return Error::internal(state.target.string() + ": the token store just written does not read back");
  return std::make_shared<const TokenStore>(std::move(*store));
}

}  // namespace fthost::data
