#pragma once
// Loads one PyTorch reference case from tests/fixtures/reference/<case>/ (made by
// tools/make_reference_fixtures.py): the model folder and the recorded tensors.

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "backend/backend.hpp"
#include "model/batch.hpp"
#include "model/safetensors.hpp"

namespace fthost::testing {

inline std::filesystem::path reference_folder(const std::string& name) {
  return std::filesystem::path(FTHOST_TEST_SOURCE_DIR) / "tests" / "fixtures" / "reference" / name;
}

class ReferenceCase {
 public:
  explicit ReferenceCase(const std::string& name) : folder_(reference_folder(name)) {
    auto file = model::SafetensorsFile::open(folder_ / "reference.safetensors");
    REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message));
    file_ = std::make_unique<model::SafetensorsFile>(std::move(*file));
  }

  const std::filesystem::path& folder() const { return folder_; }
  bool has(const std::string& name) const { return file_->find(name) != nullptr; }

  std::vector<float> floats(const std::string& name) const {
    const model::SafetensorsTensor* tensor = file_->find(name);
    REQUIRE_MESSAGE(tensor != nullptr, "reference tensor missing: " << name);
    REQUIRE(tensor->dtype == sdk::DType::f32);
    std::vector<float> values(static_cast<std::size_t>(tensor->element_count()));
    std::memcpy(values.data(), tensor->bytes.data(), values.size() * sizeof(float));
    return values;
  }

  std::vector<std::int64_t> integers(const std::string& name) const {
    const model::SafetensorsTensor* tensor = file_->find(name);
    REQUIRE_MESSAGE(tensor != nullptr, "reference tensor missing: " << name);
    REQUIRE(tensor->dtype == sdk::DType::i64);
    std::vector<std::int64_t> values(static_cast<std::size_t>(tensor->element_count()));
    std::memcpy(values.data(), tensor->bytes.data(), values.size() * sizeof(std::int64_t));
    return values;
  }

  std::vector<std::int64_t> shape(const std::string& name) const { return file_->find(name)->shape; }

  // The recorded input rows, each one whole document (what HF's causal-LM loss sees).
  model::HostBatch input_batch(const std::string& name = "input_ids") const {
    std::vector<std::int64_t> ids = integers(name);
    std::vector<std::int64_t> dims = shape(name);
    model::HostBatch batch;
    batch.seq_len = dims[1];
    for (std::int64_t row = 0; row < dims[0]; ++row) {
      std::vector<std::int32_t> document;
      for (std::int64_t t = 0; t < dims[1]; ++t) {
        document.push_back(static_cast<std::int32_t>(ids[static_cast<std::size_t>(row * dims[1] + t)]));
      }
      std::vector<std::vector<std::int32_t>> documents = {document};
      batch.add_row(documents);
    }
    return batch;
  }

 private:
  std::filesystem::path folder_;
  std::unique_ptr<model::SafetensorsFile> file_;
};

// Every recorded case (tools/make_reference_fixtures.py).
inline constexpr const char* reference_case_names[] = {"llama_gqa", "llama3_rope_scaling", "qwen2_bias_tied", "gpt2"};

// A tensor's f32 values, from any backend.
inline std::vector<float> download(backend::Backend& backend, const backend::Tensor& tensor) {
  std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
  backend.download(values.data(), tensor);
  return values;
}

// max |a - b| / (max |b| + floor): one relative error for a whole tensor.
inline double relative_error(const std::vector<float>& actual, const std::vector<float>& expected, double floor = 1e-6) {
  REQUIRE(actual.size() == expected.size());
  double max_difference = 0.0;
  double max_magnitude = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    max_difference = std::max(max_difference, std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i])));
    max_magnitude = std::max(max_magnitude, std::abs(static_cast<double>(expected[i])));
  }
  return max_difference / (max_magnitude + floor);
}

}  // namespace fthost::testing
