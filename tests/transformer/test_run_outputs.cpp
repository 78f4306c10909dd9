// What a run leaves besides the model: TensorBoard event files (checked byte for byte against
// the TFRecord / protobuf encoding) and the HTML report's charts.

#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "train/report.hpp"
#include "train/tensorboard.hpp"

using fthost::train::crc32c;

TEST_CASE("CRC-32C: the standard check value and TFRecord's mask") {
  const std::string check = "123456789";
  CHECK(crc32c(std::as_bytes(std::span<const char>(check.data(), check.size()))) == 0xE3069283U);
  const std::string empty;
  CHECK(crc32c(std::as_bytes(std::span<const char>(empty.data(), 0))) == 0U);
  // masked = rotr(crc, 15) + 0xa282ead8 (mod 2^32)
  const std::uint32_t crc = 0xE3069283U;
  CHECK(fthost::train::masked_crc32c(std::as_bytes(std::span<const char>(check.data(), check.size()))) ==
        static_cast<std::uint32_t>(((crc >> 15) | (crc << 17)) + 0xA282EAD8U));
}

TEST_CASE("a scalar Event is the protobuf TensorBoard reads") {
  const std::string event = fthost::train::scalar_event_bytes(1.5, 300, "train/loss", 2.0f);
  std::string expected;
  expected += '\x09';  // field 1 (wall_time), fixed64
  double wall_time = 1.5;
  expected.append(reinterpret_cast<const char*>(&wall_time), 8);
  expected += "\x10\xAC\x02";  // field 2 (step), varint 300
  expected += "\x2A\x13";      // field 5 (summary), 19 bytes
  expected += "\x0A\x11";      // Summary.value, 17 bytes
  expected += "\x0A\x0Atrain/loss";  // Value.tag
  expected += '\x15';                 // Value.simple_value, fixed32
  float value = 2.0f;
  expected.append(reinterpret_cast<const char*>(&value), 4);
  CHECK(event == expected);

  const std::string record = fthost::train::tfrecord(event);
  REQUIRE(record.size() == 8 + 4 + event.size() + 4);
  std::uint64_t length = 0;
  std::memcpy(&length, record.data(), 8);
  CHECK(length == event.size());
  std::uint32_t data_crc = 0;
  std::memcpy(&data_crc, record.data() + 12 + event.size(), 4);
  CHECK(data_crc == fthost::train::masked_crc32c(std::as_bytes(std::span<const char>(event.data(), event.size()))));
}

TEST_CASE("report charts: one polyline per line series, one dot per marker point, escaped text") {
  fthost::train::ChartSeries loss{"train <loss>", "#123456", {{1, 3.0}, {2, 2.5}, {3, 2.0}}, false};
  fthost::train::ChartSeries eval{"eval", "#654321", {{2, 2.7}, {3, 2.2}}, true};
  const std::string svg = fthost::train::svg_line_chart("Loss & more", {loss, eval}, 400, 200);
  CHECK(svg.find("<polyline") != std::string::npos);
  CHECK(svg.find("stroke=\"#123456\"") != std::string::npos);
  std::size_t dots = 0;
  for (std::size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++dots;
  CHECK(dots == 2);
  CHECK(svg.find("train &lt;loss&gt;") != std::string::npos);
  CHECK(svg.find("Loss &amp; more") != std::string::npos);
  // the first point sits at the left edge of the plot (x = 64), the last at the right (400 - 16)
  CHECK(svg.find("64.0,") != std::string::npos);
  CHECK(svg.find("384.0,") != std::string::npos);
  CHECK(fthost::train::svg_line_chart("empty", {}, 400, 200).find("no data") != std::string::npos);
}
