#include "train/tensorboard.hpp"

#include <unistd.h>

#include <array>
#include <bit>
#include <chrono>
#include <cstring>

namespace fthost::train {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0x82F63B78U : crc >> 1;  // reflected Castagnoli
    table[i] = crc;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> crc32c_table = make_crc32c_table();

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

template <typename T>
void put_little_endian(std::string& out, T value) {
  static_assert(std::endian::native == std::endian::little, "event files are little-endian; so is every host fthost runs on");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Protobuf field keys: (field number << 3) | wire type (0 varint, 1 fixed64, 2 bytes, 5 fixed32).
void put_key(std::string& out, int field, int wire_type) { put_varint(out, static_cast<std::uint64_t>(field << 3 | wire_type)); }

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

std::string event_header(double wall_time) {
  std::string event;
  put_key(event, 1, 1);
  put_little_endian(event, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (std::byte byte : bytes) crc = crc32c_table[(crc ^ static_cast<std::uint32_t>(byte)) & 0xFFU] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFU;
}

std::uint32_t masked_crc32c(std::span<const std::byte> bytes) {
  const std::uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8U;
}

std::string scalar_event_bytes(double wall_time, std::int64_t step, std::string_view tag, float value) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_key(summary_value, 2, 5);
  put_little_endian(summary_value, value);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event;
  put_key(event, 1, 1);
  put_little_endian(event, wall_time);
  put_key(event, 2, 0);
  put_varint(event, static_cast<std::uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

std::string tfrecord(std::string_view data) {
  std::string record;
  put_little_endian(record, static_cast<std::uint64_t>(data.size()));
  put_little_endian(record, masked_crc32c(std::as_bytes(std::span<const char>(record.data(), 8))));
  record.append(data);
  put_little_endian(record, masked_crc32c(std::as_bytes(std::span<const char>(data.data(), data.size()))));
  return record;
}

sdk::Result<TensorBoardWriter> TensorBoardWriter::open(const std::filesystem::path& folder) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) return sdk::Error::invalid_input(folder.string() + ": cannot create folder (" + error.message() + ")");
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const double started = now_seconds();
  const std::filesystem::path path = folder / ("events.out.tfevents." + std::to_string(static_cast<long long>(started)) +
                                               "." + host + "." + std::to_string(getpid()));
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  if (!stream) return sdk::Error::invalid_input(path.string() + ": cannot open for writing");
  stream << tfrecord(event_header(started)) << std::flush;
  return TensorBoardWriter(path, std::move(stream));
}

void TensorBoardWriter::scalar(std::string_view tag, std::int64_t step, double value) {
  stream_ << tfrecord(scalar_event_bytes(now_seconds(), step, tag, static_cast<float>(value))) << std::flush;
}

}  // namespace fthost::train
