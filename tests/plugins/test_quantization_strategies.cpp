#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::plugins::Int8QuantizationStrategy;
using fthost::plugins::Nf4QuantizationStrategy;
using fthost::plugins::quant_int8_option_schema;
using fthost::plugins::quant_nf4_option_schema;
using fthost::sdk::DType;
using fthost::sdk::ErrorCategory;
using fthost::sdk::LinearSite;
using namespace fthost::testing;

namespace {

Nf4QuantizationStrategy nf4_with(
    std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>> overrides = {}) {
  return Nf4QuantizationStrategy(options_from(quant_nf4_option_schema(), overrides));
}

Int8QuantizationStrategy int8_with(
    std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>> overrides = {}) {
  return Int8QuantizationStrategy(options_from(quant_int8_option_schema(), overrides));
}

const LinearSite query = linear_site("model.layers.0.self_attn.q_proj", 4096, 4096);
const LinearSite head = linear_site("lm_head", 4096, 32000, fthost::sdk::SiteRole::column, true);

}  // namespace

TEST_CASE("quant_nf4: bits per weight include the block scales, and double quantization shrinks them") {
  // 4 + 32/64: an fp32 absmax per block of 64.
  CHECK(nf4_with().bits_per_weight() == 4.5);
  CHECK(nf4_with({{"blocksize", std::int64_t{128}}}).bits_per_weight() == 4.25);
  // 4 + 8/64 + 32/(64*256) = 4.126953125: QLoRA's 0.127 bits of scale per parameter.
  CHECK(nf4_with({{"double_quant", true}}).bits_per_weight() == 4.126953125);
  CHECK(nf4_with({{"double_quant", true}, {"blocksize", std::int64_t{32}}}).bits_per_weight() ==
        doctest::Approx(4.0 + 8.0 / 32.0 + 32.0 / (32.0 * 256.0)));
}

TEST_CASE("quant_nf4: bitsandbytes' option names are accepted as aliases") {
  fthost::sdk::OptionSchema schema = quant_nf4_option_schema();
  CHECK(schema.find_by_name_or_alias("bnb_4bit_quant_type")->name == "quant_type");
  CHECK(schema.find_by_name_or_alias("bnb_4bit_use_double_quant")->name == "double_quant");
  CHECK(schema.find_by_name_or_alias("bnb_4bit_compute_dtype")->name == "compute_dtype");
  CHECK(schema.find_by_name_or_alias("llm_int8_skip_modules")->name == "skip_modules");
  CHECK(nf4_with().compute_dtype() == DType::f32);
  CHECK(nf4_with({{"compute_dtype", "bf16"}}).compute_dtype() == DType::bf16);
}

TEST_CASE("quant_nf4: every linear but lm_head is quantized unless skip_modules says otherwise") {
  CHECK(nf4_with().quantizes(query));
  CHECK_FALSE(nf4_with().quantizes(head));
  std::vector<std::string> nothing;
  CHECK(nf4_with({{"skip_modules", nothing}}).quantizes(head));
  std::vector<std::string> down = {"down_proj", "lm_head"};
  CHECK_FALSE(nf4_with({{"skip_modules", down}}).quantizes(linear_site("model.layers.1.mlp.down_proj", 11008, 4096)));
  CHECK(nf4_with({{"skip_modules", down}}).quantizes(query));
}

TEST_CASE("quant_nf4: a blocksize that is not a power of two is refused") {
  fthost::sdk::Errors errors = nf4_with({{"blocksize", std::int64_t{96}}}).check({});
  CHECK(has_error(errors, ErrorCategory::invalid_input, "blocksize (96) must be a power of two"));

  fthost::sdk::Errors fine = nf4_with({{"blocksize", std::int64_t{256}}}).check({});
  CHECK(fine.empty());
}

TEST_CASE("quant_nf4: the plan states the format and what the quantized weights weigh") {
  std::vector<std::string> plan = nf4_with({{"double_quant", true}}).describe_plan(facts_with_sites(llama_sites()));
  CHECK(contains(plan.at(0), "nf4 codes in blocks of 64"));
  CHECK(contains(plan.at(0), "4.126953 bits per weight"));
  // Llama-2-7B's 6,476,005,376 linear weights (lm_head kept dense) at 4.127 bits: 3.11 GiB (3.34 GB).
  CHECK(plan.back() == "quant_nf4: quantizes 224 of 225 linear sites, 6,476,005,376 weights in 3.11 GiB");
}

TEST_CASE("quant_int8: 8 bits per weight plus one fp32 scale per output row") {
  CHECK(int8_with().bits_per_weight() == 8.0);
  CHECK(int8_with().bits_per_weight(query) == 8.0 + 32.0 / 4096.0);
  // Keeping the fp16 weight means 16 bits are stored, whatever the site.
  CHECK(int8_with({{"llm_int8_has_fp16_weight", true}}).bits_per_weight(query) == 16.0);
  CHECK(int8_with().compute_dtype() == DType::f16);
}

TEST_CASE("quant_int8: transformers' defaults and site selection") {
  fthost::sdk::Options options = options_from(quant_int8_option_schema());
  CHECK(options.get_float("llm_int8_threshold") == 6.0);
  CHECK_FALSE(options.get_bool("llm_int8_has_fp16_weight"));
  CHECK(int8_with().quantizes(query));
  CHECK_FALSE(int8_with().quantizes(head));
}

TEST_CASE("quant_int8: the plan names the outlier threshold and counts the quantized weights") {
  std::vector<std::string> plan = int8_with().describe_plan(facts_with_sites(llama_sites()));
  CHECK(contains(plan.at(0), "input columns with |x| >= 6.0 multiplied unquantized"));
  CHECK(contains(plan.back(), "quantizes 224 of 225 linear sites, 6,476,005,376 weights"));
  CHECK(contains(int8_with({{"llm_int8_threshold", 0.0}}).describe_plan({}).at(0), "no outlier split"));
}
