// quant_nf4's SDK 3.0 hooks (quantize, dequantize, forward, backward, save, load), called as the
// host calls them, against bitsandbytes 0.50.2 on the CPU (tests/fixtures/bnb) and against the
// error bounds bitsandbytes' own tests state (shared/reference/quant_lora.md sections 1.5 and 6).

#include <doctest/doctest.h>

#include "quantization_test_support.hpp"

using namespace fthost::testing::quantization;

TEST_CASE("quant_nf4: quantize stores bitsandbytes' packed codes and absmax, and dequantize gives its values") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::vector<float> weight = values_of<float>(file, "gaussian.input");  // [48, 96]
  const LinearSite site = linear_site("model.layers.0.self_attn.o_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    for (const std::int64_t blocksize : {64, 128, 4096}) {
      const std::string key = "gaussian." + type + "." + std::to_string(blocksize);
      CAPTURE(key);
      const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}, {"blocksize", blocksize}});
      const Stored stored = quantize(host, strategy, site, weight);
      CHECK(stored.values<std::uint8_t>(0) == values_of<std::uint8_t>(file, key + ".codes"));
      CHECK(stored.values<float>(1) == values_of<float>(file, key + ".absmax"));
      CHECK(dequantize(host, strategy, site, stored) == values_of<float>(file, key + ".dequantized"));
    }
  }
  // compute_dtype bf16: dequantize hands the matmul those values rounded to bf16.
  const Nf4QuantizationStrategy bf16 = nf4_with({{"compute_dtype", "bf16"}});
  std::vector<float> rounded = values_of<float>(file, "gaussian.nf4.64.dequantized");
  for (float& value : rounded) value = round_to_bf16(value);
  CHECK(dequantize(host, bf16, site, quantize(host, bf16, site, weight)) == rounded);
}
TEST_CASE("quant_nf4: forward multiplies by the dequantized weight and backward accumulates d_out @ it") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::size_t in = 96;
  const std::size_t out = 48;
  const std::size_t tokens = 7;
  const LinearSite site = linear_site("model.layers.0.self_attn.o_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    CAPTURE(type);
    const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}});
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "gaussian.input"));
    const std::vector<float> weight = values_of<float>(file, "gaussian." + type + ".64.dequantized");

    // y[t,o] = sum_k x[t,k] w[o,k], against plain loops in double; 1e-5 of sum |x w| (f32 GEMM).
    const std::vector<float> x = standard_normal(tokens * in, 11);
    const std::vector<float> y = forward(host, strategy, site, stored, x);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t o = 0; o < out; ++o) {
        double sum = 0.0;
        double magnitude = 0.0;
        for (std::size_t k = 0; k < in; ++k) {
          sum += wide(x[t * in + k]) * wide(weight[o * in + k]);
          magnitude += std::fabs(wide(x[t * in + k]) * wide(weight[o * in + k]));
        }
        CHECK(std::fabs(wide(y[t * out + o]) - sum) <= 1e-5 * magnitude);
      }
    }

    // d_input[t,k] += sum_o d_out[t,o] w[o,k], onto d_input's starting values.
    const std::vector<float> dy = standard_normal(tokens * out, 12);
    const std::vector<float> start = standard_normal(tokens * in, 13);
    std::vector<float> dx = start;
    backward(host, strategy, site, stored, dy, dx);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t k = 0; k < in; ++k) {
        double sum = wide(start[t * in + k]);
        double magnitude = std::fabs(sum);
        for (std::size_t o = 0; o < out; ++o) {
          sum += wide(dy[t * out + o]) * wide(weight[o * in + k]);
          magnitude += std::fabs(wide(dy[t * out + o]) * wide(weight[o * in + k]));
        }
        CHECK(std::fabs(wide(dx[t * in + k]) - sum) <= 1e-5 * magnitude);
      }
    }
  }
}
TEST_CASE("quant_nf4: double quantization stores bitsandbytes' second level and dequantizes through it") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const LinearSite site = linear_site("model.layers.0.mlp.gate_proj", 300, 110);  // double.input's 33000 values
  const Nf4QuantizationStrategy strategy = nf4_with({{"double_quant", true}});
  const std::vector<float> theirs = values_of<float>(file, "double.dequantized");
  const std::vector<std::uint8_t> absmax_codes = values_of<std::uint8_t>(file, "double.absmax_codes");
  Host host;

  SUBCASE("quantized by the plugin") {
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "double.input"));
    CHECK(stored.values<std::uint8_t>(0) == values_of<std::uint8_t>(file, "double.codes"));
    CHECK(stored.values<float>(2) == values_of<float>(file, "double.nested_absmax"));
    CHECK(stored.values<float>(3) == values_of<float>(file, "double.offset"));
    // nf4_codec.hpp: the plugin picks the nearest dynamic-map value; bitsandbytes' CPU kernel
    // decides values within a hair of a midpoint its own way (1 of 516 here), one code apart.
    const std::vector<std::uint8_t> ours = stored.values<std::uint8_t>(1);
    REQUIRE(ours.size() == absmax_codes.size());
    std::vector<bool> same_scale(ours.size());
    int differences = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      same_scale[i] = ours[i] == absmax_codes[i];
      if (same_scale[i]) continue;
      ++differences;
      CHECK(std::abs(int{ours[i]} - int{absmax_codes[i]}) == 1);
    }
    CHECK(differences <= 2);
    // Every block whose absmax code agrees dequantizes to bitsandbytes' values exactly.
    const std::vector<float> values = dequantize(host, strategy, site, stored);
    std::size_t compared = 0;
    std::size_t equal = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!same_scale[i / 64]) continue;
      ++compared;
      if (values[i] == theirs[i]) ++equal;
    }
    CHECK(equal == compared);
    CHECK(compared >= values.size() * 99 / 100);
  }
  SUBCASE("bitsandbytes' own stored tensors") {
    // map[code] * nested_absmax[block / 256] + offset, in f32 as dequantize_blockwise: every value.
    Stored stored = allocate(host, strategy, site);
    stored.assign(0, values_of<std::uint8_t>(file, "double.codes"));
    stored.assign(1, absmax_codes);
    stored.assign(2, values_of<float>(file, "double.nested_absmax"));
    stored.assign(3, values_of<float>(file, "double.offset"));
    CHECK(dequantize(host, strategy, site, stored) == theirs);
  }
}
TEST_CASE("quant_nf4: round-trip error on randn(1024, 1024) within bitsandbytes' test_4bit_quant bounds") {
  const LinearSite site = linear_site("model.layers.0.mlp.up_proj", 1024, 1024);
  const std::vector<float> weight = standard_normal(1024 * 1024, 2024);
  Host host;
  // Limits: mean + 7 sigma of 200 runs (tests/test_functional.py; reference section 1.5).
  std::vector<RoundTripError> nf4;  // blocksizes 32, 64, ..., 4096
  for (std::int64_t blocksize = 32; blocksize <= 4096; blocksize *= 2) {
    nf4.push_back(round_trip_error(host, nf4_with({{"blocksize", blocksize}}), site, weight));
  }
  CHECK(nf4[0].mean_absolute < 0.068229);
  CHECK(nf4[0].mean_relative < 0.191854);
  CHECK(nf4[1].mean_absolute < 0.073316);
  CHECK(nf4[1].mean_relative < 0.205719);
  CHECK(nf4[2].mean_absolute < 0.077468);
  CHECK(nf4[2].mean_relative < 0.217974);
  // One scale shared by more values: the error grows with each doubling (0.0677 at 32 .. 0.0925 at 4096).
  for (std::size_t i = 1; i < nf4.size(); ++i) {
    CAPTURE(i);
    CHECK(nf4[i].mean_absolute > nf4[i - 1].mean_absolute);
    CHECK(nf4[i].mean_relative > nf4[i - 1].mean_relative);
  }
  // And it is bitsandbytes' error: within 1% of its means at 32, 64, 128, 256 and 4096 (one
  // draw of 2^20 values; its sigma is 0.1% of the mean at 32 to 128).
  CHECK(nf4[0].mean_absolute == doctest::Approx(0.067746).epsilon(0.01));
  CHECK(nf4[1].mean_absolute == doctest::Approx(0.072798).epsilon(0.01));
  CHECK(nf4[2].mean_absolute == doctest::Approx(0.076831).epsilon(0.01));
  CHECK(nf4[3].mean_absolute == doctest::Approx(0.080337).epsilon(0.01));
  CHECK(nf4[7].mean_absolute == doctest::Approx(0.092547).epsilon(0.01));

  const RoundTripError fp4 = round_trip_error(host, nf4_with({{"quant_type", "fp4"}}), site, weight);
  CHECK(fp4.mean_absolute < 0.097320);
  CHECK(fp4.mean_relative < 0.262778);
  CHECK(fp4.mean_absolute == doctest::Approx(0.096543).epsilon(0.01));

  // test_4bit_compressed_stats' bounds; the 8-bit scales cost little (reference: 0.072896 vs 0.072822).
  const RoundTripError double_quant = round_trip_error(host, nf4_with({{"double_quant", true}}), site, weight);
  CHECK(double_quant.mean_absolute < 0.11);
  CHECK(double_quant.mean_relative < 0.28);
  CHECK(double_quant.mean_absolute <= 1.005 * nf4[1].mean_absolute);
}
TEST_CASE("quant_nf4: on heavy-tailed weights NF4 errs less than FP4, and quant_int8's per-row scales less than NF4") {
  // Student's t with 3 degrees of freedom, z / sqrt(chi^2_3 / 3), from four normal draws a value.
  const std::int64_t size = 512;
  const std::vector<float> normal = standard_normal(static_cast<std::size_t>(4 * size * size), 5);
  std::vector<float> weight(static_cast<std::size_t>(size * size));
  for (std::size_t i = 0; i < weight.size(); ++i) {
    const double chi_squared = std::pow(wide(normal[4 * i + 1]), 2.0) + std::pow(wide(normal[4 * i + 2]), 2.0) +
                               std::pow(wide(normal[4 * i + 3]), 2.0);
    weight[i] = static_cast<float>(wide(normal[4 * i]) / std::sqrt(chi_squared / 3.0));
  }
  const LinearSite site = linear_site("model.layers.0.mlp.down_proj", size, size);
  Host host;
  const RoundTripError nf4 = round_trip_error(host, nf4_with(), site, weight);
  const RoundTripError fp4 = round_trip_error(host, nf4_with({{"quant_type", "fp4"}}), site, weight);
  const RoundTripError int8 = round_trip_error(host, int8_with(), site, weight);
  // Seen: NF4 0.156, FP4 0.233 (blocks of 64), int8 0.027 (256 levels per row against 16 per block).
  CHECK(nf4.mean_absolute < fp4.mean_absolute);
  CHECK(int8.mean_absolute < nf4.mean_absolute);
}
TEST_CASE("quant_nf4: save then load restores the stored tensors byte for byte, with bitsandbytes' quant state") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const std::vector<float> weight = values_of<float>(file, "gaussian.input");
  const LinearSite site = linear_site("model.layers.1.mlp.down_proj", 96, 48);
  Host host;
  for (const std::string type : {"nf4", "fp4"}) {
    for (const bool double_quant : {false, true}) {
      CAPTURE(type);
      CAPTURE(double_quant);
      const Nf4QuantizationStrategy strategy = nf4_with({{"quant_type", type}, {"double_quant", double_quant}});
      const Stored stored = quantize(host, strategy, site, weight);
      const MemorySite saved(strategy.save(site, stored.refs));
      CHECK(strategy.saved_quantized(site, saved));
      Stored restored = allocate(host, strategy, site);
      const fthost::sdk::Errors errors = strategy.load(site, saved, restored.refs);
      CHECK_MESSAGE(errors.empty(), messages(errors));
      CHECK(same_bytes(stored, restored));

      // QuantState.as_dict(packed=True)'s non-tensor entries, as JSON.
      const nlohmann::json state = quant_state(saved, "weight.quant_state.bitsandbytes__" + type);
      std::set<std::string> keys;
      for (const auto& [key, value] : state.items()) keys.insert(key);
      std::set<std::string> expected = {"quant_type", "blocksize", "dtype", "shape"};
      if (double_quant) expected.insert({"nested_blocksize", "nested_dtype", "nested_offset"});
      CHECK(keys == expected);
      CHECK(state["quant_type"] == type);
      CHECK(state["blocksize"] == 64);
      CHECK(state["dtype"] == "float32");
      CHECK(state["shape"] == nlohmann::json::array({48, 96}));
      if (double_quant) {
        CHECK(state["nested_blocksize"] == 256);
        CHECK(state["nested_dtype"] == "float32");
        CHECK(static_cast<float>(state["nested_offset"].get<double>()) == stored.values<float>(3).at(0));
      }
    }
  }
}
TEST_CASE("quant_nf4: a site bitsandbytes saved (NF4 double-quantized, FP4) loads and saves again as it was") {
  SUBCASE("nf4, double quantization") { check_resave("tiny_llama_nf4", nf4_with({{"double_quant", true}})); }
  SUBCASE("fp4") { check_resave("tiny_llama_fp4", nf4_with({{"quant_type", "fp4"}})); }
}
TEST_CASE("quant_nf4: load errors name the source and the tensor at fault") {
  const SafetensorsFile file = open_fixture("quantize_4bit.safetensors");
  const LinearSite site = linear_site("model.layers.1.mlp.down_proj", 96, 48);
  const std::string state_key = "weight.quant_state.bitsandbytes__nf4";
  const std::string where = "memory/model.safetensors: tensor '" + site.name + ".";
  Host host;
  const Nf4QuantizationStrategy nf4 = nf4_with();
  auto saved_by = [&](const Nf4QuantizationStrategy& strategy) {
    const Stored stored = quantize(host, strategy, site, values_of<float>(file, "gaussian.input"));
    return MemorySite(strategy.save(site, stored.refs));
  };
  auto load_errors = [&](const Nf4QuantizationStrategy& strategy, const MemorySite& saved) {
    Stored target = allocate(host, strategy, site);
    return strategy.load(site, saved, target.refs);
  };
  auto rewrite_state = [&](MemorySite& saved, const std::string& key, const nlohmann::json& value) {
    nlohmann::json state = quant_state(saved, state_key);
    state[key] = value;
    const std::string text = state.dump();
    SavedTensor& tensor = saved.at(state_key);
    tensor.bytes.resize(text.size());
    std::memcpy(tensor.bytes.data(), text.data(), text.size());
    tensor.shape = {static_cast<std::int64_t>(text.size())};
  };
  MemorySite saved = saved_by(nf4);
  REQUIRE(load_errors(nf4, saved).empty());

  SUBCASE("no quant state") {
    saved.erase(state_key);
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    "memory/model.safetensors: missing tensor '" + site.name + "." + state_key + "'"));
  }
  SUBCASE("another blocksize in the quant state") {
    rewrite_state(saved, "blocksize", 128);
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + state_key + "': blocksize is 128, the pipeline's blocksize is 64"));
  }
  SUBCASE("a pipeline with another blocksize") {
    CHECK(has_error(load_errors(nf4_with({{"blocksize", std::int64_t{128}}}), saved), ErrorCategory::invalid_input,
                    where + state_key + "': blocksize is 64, the pipeline's blocksize is 128"));
  }
  SUBCASE("another shape in the quant state") {
    rewrite_state(saved, "shape", nlohmann::json::array({96, 48}));
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + state_key + "': shape is [96,48], expected [48,96]"));
  }
  SUBCASE("a weight of another dtype") {
    saved.at("weight").dtype = DType::f32;
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + "weight' has dtype f32, expected u8"));
  }
  SUBCASE("a weight of another shape") {
    saved.at("weight").shape = {1152, 2};
    CHECK(has_error(load_errors(nf4, saved), ErrorCategory::invalid_input,
                    where + "weight' has shape [1152, 2], expected [2304, 1]"));
  }
  SUBCASE("fp4 weights, an nf4 pipeline") {
    CHECK(has_error(load_errors(nf4, saved_by(nf4_with({{"quant_type", "fp4"}}))), ErrorCategory::invalid_input,
                    where + "weight.quant_state.bitsandbytes__fp4': the folder's weights are fp4"));
  }
  SUBCASE("double-quantized absmax, a pipeline without") {
    CHECK(has_error(load_errors(nf4, saved_by(nf4_with({{"double_quant", true}}))), ErrorCategory::invalid_input,
                    where + state_key + "': the folder's absmax values are double-quantized"));
  }
}
