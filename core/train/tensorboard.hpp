#pragma once
// TensorBoard event files, so `tensorboard --logdir OUTPUT_DIR/tensorboard` plots a run while it
// trains. The format is TensorFlow's TFRecord of `Event` protocol buffers:
//   record = uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
//   masked_crc32c(x) = rotate_right(crc32c(x), 15) + 0xa282ead8
//   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
// The few fields needed are encoded here by hand (protobuf's wire format is stable and tiny for
// these), instead of depending on protobuf and TensorFlow's .proto files for three messages.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>

#include "fthost/sdk/error.hpp"

namespace fthost::train {

// CRC-32C (Castagnoli), as TFRecord uses it.
std::uint32_t crc32c(std::span<const std::byte> bytes);
std::uint32_t masked_crc32c(std::span<const std::byte> bytes);

// One Event with one scalar, as protobuf bytes (exposed for tests).
std::string scalar_event_bytes(double wall_time, std::int64_t step, std::string_view tag, float value);
// The TFRecord framing of `data`.
std::string tfrecord(std::string_view data);

class TensorBoardWriter {
 public:
  // Creates `folder` and a new events.out.tfevents.<seconds>.<host>.<pid> file in it (a resumed run
  // adds a file; TensorBoard reads every file of a folder).
  static sdk::Result<TensorBoardWriter> open(const std::filesystem::path& folder);

  // Appends one scalar and flushes, so TensorBoard sees it while the run goes on.
  void scalar(std::string_view tag, std::int64_t step, double value);
  const std::filesystem::path& path() const { return path_; }

 private:
  TensorBoardWriter(std::filesystem::path path, std::ofstream stream) : path_(std::move(path)), stream_(std::move(stream)) {}
  std::filesystem::path path_;
  std::ofstream stream_;
};

}  // namespace fthost::train
