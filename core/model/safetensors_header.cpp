#include "model/safetensors_header.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "model/message_text.hpp"
#include "model/safetensors_dtype.hpp"

namespace fthost::model {
namespace {

constexpr std::size_t header_length_bytes = 8;  // the little-endian u64 in front of the JSON

// The header's JSON, read event by event (SAX) rather than as a document: a hostile header is
// refused at its first wrong token, nesting deeper than the format's three levels never builds up,
// and memory stays proportional to what a valid header describes.
class HeaderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<SafetensorsEntry> entries;
  SafetensorsMetadata metadata;
  std::string problem;  // why reading stopped; empty while the header is fine

  bool null() override {
    if (place_ != Place::metadata_value) return unexpected("null");
    place_ = Place::in_root;  // "__metadata__": null means none, as the reference reader's Option reads it
    return true;
  }
  bool boolean(bool /*value*/) override { return unexpected("a boolean"); }
  bool number_float(double /*value*/, const std::string& /*text*/) override {
    return unexpected("a number that is not a 64-bit integer");
  }
  bool binary(binary_t& /*value*/) override { return unexpected("binary data"); }

  bool number_integer(std::int64_t value) override {
    if (value >= 0) return number_unsigned(static_cast<std::uint64_t>(value));
    if (place_ == Place::in_shape)
      return fail(tensor_context() + "negative dimension " + std::to_string(value) + " in \"shape\"");
    if (place_ == Place::in_offsets)
      return fail(tensor_context() + "negative offset " + std::to_string(value) + " in \"data_offsets\"");
    return unexpected("a number");
  }

  bool number_unsigned(std::uint64_t value) override {
    if (place_ == Place::in_shape) {
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(tensor_context() + "dimension " + std::to_string(value) + " in \"shape\" does not fit in int64");
      }
      entries.back().shape.push_back(static_cast<std::int64_t>(value));
      return true;
    }
    if (place_ == Place::in_offsets) {
      if (offsets_seen_ == 2) return fail(tensor_context() + "\"data_offsets\" has more than two numbers");
      (offsets_seen_ == 0 ? entries.back().data_begin : entries.back().data_end) = value;
      ++offsets_seen_;
      return true;
    }
    return unexpected("a number");
  }

  bool string(string_t& value) override {
    if (place_ == Place::metadata_entry_value) {
      if (!metadata.try_emplace(metadata_key_, std::move(value)).second) {
        return fail("\"__metadata__\" has the key " + quoted_for_message(metadata_key_) + " twice");
      }
      place_ = Place::in_metadata;
      return true;
    }
    if (place_ == Place::field_value && field_ == Field::dtype) {
      std::optional<sdk::DType> dtype = parse_safetensors_dtype(value);
      if (!dtype) {
        return fail(tensor_context() + "dtype " + quoted_for_message(value) + " is not supported (fthost reads " +
                    std::string(supported_safetensors_dtype_names()) + ")");
      }
      entries.back().dtype = *dtype;
      place_ = Place::in_entry;
      return true;
    }
    return unexpected("a string");
  }

  bool start_object(std::size_t /*elements*/) override {
    switch (place_) {
      case Place::before_root: place_ = Place::in_root; return true;
      case Place::metadata_value: place_ = Place::in_metadata; return true;
      case Place::entry_value: place_ = Place::in_entry; return true;
      default: return unexpected("an object");
    }
  }

  bool key(string_t& key) override {
    if (place_ == Place::in_root) {
      if (key == "__metadata__") {
        if (seen_metadata_) return fail("\"__metadata__\" appears twice");
        seen_metadata_ = true;
        place_ = Place::metadata_value;
        return true;
      }
      entries.emplace_back().name = std::move(key);
      seen_fields_ = {};
      place_ = Place::entry_value;
      return true;
    }
    if (place_ == Place::in_metadata) {
      metadata_key_ = std::move(key);
      place_ = Place::metadata_entry_value;
      return true;
    }
    // in_entry: the only other place the grammar allows a key.
    std::optional<Field> field = field_named(key);
    if (!field) {
      return fail(tensor_context() + "unknown field " + quoted_for_message(key) +
                  " (expected \"dtype\", \"shape\", \"data_offsets\")");
    }
    bool& seen = seen_fields_[static_cast<std::size_t>(*field)];
    if (seen) return fail(tensor_context() + "field \"" + std::string(field_name(*field)) + "\" appears twice");
    seen = true;
    field_ = *field;
    place_ = Place::field_value;
    return true;
  }

  bool end_object() override {
    switch (place_) {
      case Place::in_root: place_ = Place::after_root; return true;
      case Place::in_metadata: place_ = Place::in_root; return true;
      default: break;  // in_entry: the grammar allows no other
    }
    for (Field field : {Field::dtype, Field::shape, Field::data_offsets}) {
      if (!seen_fields_[static_cast<std::size_t>(field)]) {
        return fail(tensor_context() + "missing field \"" + std::string(field_name(field)) + "\"");
      }
    }
    place_ = Place::in_root;
    return true;
  }

  bool start_array(std::size_t /*elements*/) override {
    if (place_ == Place::field_value && field_ == Field::shape) {
      place_ = Place::in_shape;
      return true;
    }
    if (place_ == Place::field_value && field_ == Field::data_offsets) {
      place_ = Place::in_offsets;
      offsets_seen_ = 0;
      return true;
    }
    return unexpected("an array");
  }

  bool end_array() override {
    if (place_ == Place::in_offsets && offsets_seen_ != 2) {
      return fail(tensor_context() + "\"data_offsets\" needs two numbers [begin, end], found " +
                  std::to_string(offsets_seen_));
    }
    place_ = Place::in_entry;  // in_shape or in_offsets: the only arrays the reader enters
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) override {
    return fail("header is not valid JSON (near byte " + std::to_string(position) +
                " of the header: " + json_parse_error_reason(error.what()) + ")");
  }

 private:
  enum class Place {
    before_root,
    in_root,               // between tensor entries
    metadata_value,        // after the "__metadata__" key
    in_metadata,           // between metadata entries
    metadata_entry_value,  // after a metadata key
    entry_value,           // after a tensor's name
    in_entry,              // between a tensor's fields
    field_value,           // after a field's key
    in_shape,
    in_offsets,
    after_root,
  };
  enum class Field : std::uint8_t { dtype, shape, data_offsets };

  static std::optional<Field> field_named(std::string_view name) {
    for (Field field : {Field::dtype, Field::shape, Field::data_offsets}) {
      if (field_name(field) == name) return field;
    }
    return std::nullopt;
  }
  static std::string_view field_name(Field field) {
    switch (field) {
      case Field::dtype: return "dtype";
      case Field::shape: return "shape";
      case Field::data_offsets: return "data_offsets";
    }
    return "?";
  }
  static std::string_view field_expectation(Field field) {
    switch (field) {
      case Field::dtype: return "a string such as \"F32\"";
      case Field::shape: return "an array of non-negative integers";
      case Field::data_offsets: return "an array [begin, end] of byte offsets";
    }
    return "?";
  }

  std::string tensor_context() const { return "tensor " + quoted_for_message(entries.back().name) + ": "; }

  bool fail(std::string why) {
    problem = std::move(why);
    return false;
  }

  // A value of the wrong kind (kind: "null", "a string", ...), described for where it was found.
  bool unexpected(std::string_view kind) {
    const std::string found(kind);
    switch (place_) {
      case Place::before_root: return fail("the header is " + found + ", expected a JSON object");
      case Place::metadata_value: return fail("\"__metadata__\" is " + found + ", expected an object of strings");
      case Place::metadata_entry_value:
        return fail("\"__metadata__\" value for " + quoted_for_message(metadata_key_) + " is " + found +
                    ", expected a string");
      case Place::entry_value:
        return fail(tensor_context() + "entry is " + found +
                    ", expected an object with \"dtype\", \"shape\" and \"data_offsets\"");
      case Place::field_value:
        return fail(tensor_context() + "field \"" + std::string(field_name(field_)) + "\" is " + found + ", expected " +
                    std::string(field_expectation(field_)));
      case Place::in_shape:
        return fail(tensor_context() + "\"shape\" holds " + found + ", expected non-negative integers");
      case Place::in_offsets:
        return fail(tensor_context() + "\"data_offsets\" holds " + found + ", expected non-negative integers");
      default: return fail("unexpected " + found + " in the header");
    }
  }

  Place place_ = Place::before_root;
  Field field_ = Field::dtype;
  std::array<bool, 3> seen_fields_{};  // indexed by Field
  int offsets_seen_ = 0;
  bool seen_metadata_ = false;
  std::string metadata_key_;
};

std::string offsets_for_message(const SafetensorsEntry& entry) {
  return std::string("[") + std::to_string(entry.data_begin) + ", " + std::to_string(entry.data_end) + "]";
}

// Checks what the JSON's shape alone cannot: unique names, byte counts, and offsets that tile the
// data region [0, data_bytes) exactly. Sorts the entries into file order. Returns the problem.
std::optional<std::string> validate_entries(std::vector<SafetensorsEntry>& entries, std::uint64_t data_bytes) {
  std::vector<const SafetensorsEntry*> by_name;
  by_name.reserve(entries.size());
  for (const SafetensorsEntry& entry : entries) by_name.push_back(&entry);
  std::sort(by_name.begin(), by_name.end(),
            [](const auto* left, const auto* right) { return left->name < right->name; });
  for (std::size_t index = 1; index < by_name.size(); ++index) {
    if (by_name[index - 1]->name == by_name[index]->name) {
      return "tensor " + quoted_for_message(by_name[index]->name) + " appears twice in the header";
    }
  }

  for (const SafetensorsEntry& entry : entries) {
    const std::string context = "tensor " + quoted_for_message(entry.name) + ": ";
    if (entry.data_end < entry.data_begin) {
      return context + "data_offsets " + offsets_for_message(entry) + " end before they begin";
    }
    if (entry.data_end > data_bytes) {
      return context + "data_offsets " + offsets_for_message(entry) + " run past the end of the data (" +
             std::to_string(data_bytes) + " bytes after the header)";
    }
    std::optional<std::uint64_t> expected_bytes = safetensors_byte_count(entry.dtype, entry.shape);
    const std::string described =
        "shape " + shape_for_message(entry.shape) + " of " + std::string(safetensors_dtype_name(entry.dtype));
    if (!expected_bytes) return context + described + " is too large: its size overflows 64 bits";
    if (*expected_bytes != entry.data_end - entry.data_begin) {
      return context + described + " needs " + std::to_string(*expected_bytes) + " bytes but data_offsets " +
             offsets_for_message(entry) + " hold " + std::to_string(entry.data_end - entry.data_begin);
    }
  }

  std::sort(entries.begin(), entries.end(), [](const SafetensorsEntry& left, const SafetensorsEntry& right) {
    return std::tie(left.data_begin, left.data_end, left.name) < std::tie(right.data_begin, right.data_end, right.name);
  });
  std::uint64_t covered_until = 0;  // every byte before this belongs to exactly one tensor
  for (std::size_t index = 0; index < entries.size(); ++index) {
    const SafetensorsEntry& entry = entries[index];
    if (entry.data_begin < covered_until) {
      const SafetensorsEntry& previous = entries[index - 1];
      return "tensor " + quoted_for_message(entry.name) + ": data_offsets " + offsets_for_message(entry) +
             " overlap tensor " + quoted_for_message(previous.name) + " " + offsets_for_message(previous);
    }
    if (entry.data_begin > covered_until) {
      return "data bytes [" + std::to_string(covered_until) + ", " + std::to_string(entry.data_begin) +
             ") belong to no tensor (a hole before tensor " + quoted_for_message(entry.name) + ")";
    }
    covered_until = entry.data_end;
  }
  if (covered_until != data_bytes) {
    return "data bytes [" + std::to_string(covered_until) + ", " + std::to_string(data_bytes) +
           ") at the end of the file belong to no tensor";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> safetensors_byte_count(sdk::DType dtype, std::span<const std::int64_t> shape) {
  std::uint64_t nonzero_product = 1;
  bool has_zero_dimension = false;
  for (std::int64_t dimension : shape) {
    if (dimension < 0) return std::nullopt;
    if (dimension == 0) {
      has_zero_dimension = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero_product, static_cast<std::uint64_t>(dimension), &nonzero_product) ||
        nonzero_product > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
  }
  const std::uint64_t elements = has_zero_dimension ? 0 : nonzero_product;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(sdk::dtype_size(dtype)), &bytes)) return std::nullopt;
  return bytes;
}

sdk::Result<SafetensorsHeader> parse_safetensors_header(std::span<const std::byte> whole_file,
                                                        std::string_view display_name) {
  auto refuse = [&](const std::string& problem) {
    return sdk::Error::invalid_input(printable_for_message(display_name, 4096) + ": " + problem);
  };
  if (whole_file.size() < header_length_bytes) {
    return refuse("file is " + std::to_string(whole_file.size()) +
                  " bytes, too short for the 8-byte header length of a safetensors file");
  }
  std::uint64_t header_bytes = 0;
  for (std::size_t index = 0; index < header_length_bytes; ++index) {
    header_bytes |= std::to_integer<std::uint64_t>(whole_file[index]) << (8 * index);
  }
  if (header_bytes > max_safetensors_header_bytes) {
    return refuse("header length " + std::to_string(header_bytes) + " bytes exceeds the limit of " +
                  std::to_string(max_safetensors_header_bytes) + " (corrupt, or not a safetensors file)");
  }
  const std::uint64_t bytes_after_length = whole_file.size() - header_length_bytes;
  if (header_bytes > bytes_after_length) {
    return refuse("header length " + std::to_string(header_bytes) + " bytes runs past the end of the file (" +
                  std::to_string(whole_file.size()) + " bytes)");
  }

  std::span<const std::byte> json = whole_file.subspan(header_length_bytes, static_cast<std::size_t>(header_bytes));
  const auto* json_begin = reinterpret_cast<const char*>(json.data());
  HeaderReader reader;
  try {
    // strict: nothing but whitespace (the writer's space padding) may follow the root object.
    if (!nlohmann::json::sax_parse(json_begin, json_begin + json.size(), &reader, nlohmann::json::input_format_t::json,
                                   /*strict=*/true)) {
      return refuse(reader.problem.empty() ? "header is not valid JSON" : reader.problem);
    }
  } catch (const std::exception& error) {  // std::bad_alloc; the SAX parser reports syntax errors as values
    return refuse("cannot read the header: " + printable_for_message(error.what()));
  }

  SafetensorsHeader header;
  header.data_start = header_length_bytes + header_bytes;
  if (std::optional<std::string> problem = validate_entries(reader.entries, bytes_after_length - header_bytes)) {
    return refuse(*problem);
  }
  header.entries = std::move(reader.entries);
  header.metadata = std::move(reader.metadata);
  return header;
}

}  // namespace fthost::model
