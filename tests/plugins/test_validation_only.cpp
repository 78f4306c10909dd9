// No training loop exists yet, so every strategy but fp32 precision must refuse to run with a
// not-implemented error, even when its options are the defaults.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "lora_strategy.hpp"
#include "megatron_strategy.hpp"
#include "precision_strategy.hpp"
#include "quant_int8_strategy.hpp"
#include "quant_nf4_strategy.hpp"
#include "strategy_test_support.hpp"
#include "zero_strategy.hpp"

using namespace fthost::plugins;
using fthost::sdk::ErrorCategory;
using fthost::testing::errors_of;
using fthost::testing::options_from;

TEST_CASE("zero and megatron report not_implemented with default options; the others validate") {
  std::vector<std::unique_ptr<fthost::sdk::Strategy>> strategies;
  strategies.push_back(std::make_unique<ZeroStrategy>(options_from(zero_option_schema())));
  strategies.push_back(std::make_unique<MegatronStrategy>(options_from(megatron_option_schema())));

  for (const auto& strategy : strategies) {
    fthost::sdk::Errors errors = strategy->check({});
    std::string kind(to_string(strategy->kind()));
    CAPTURE(kind);
    CHECK(errors.size() == 1);
    REQUIRE(errors_of(errors, ErrorCategory::not_implemented).size() == 1);
    CHECK(errors[0].message.find("not implemented yet (validation only in this build)") != std::string::npos);
  }

  for (const char* dtype : {"fp32", "bf16", "fp16"}) {
    CHECK(MixedPrecisionStrategy(options_from(precision_option_schema(), {{"dtype", dtype}})).check({}).empty());
  }
  CHECK(LoraStrategy(options_from(lora_option_schema())).check({}).empty());
  CHECK(Nf4QuantizationStrategy(options_from(quant_nf4_option_schema())).check({}).empty());
  CHECK(Int8QuantizationStrategy(options_from(quant_int8_option_schema())).check({}).empty());

  // What the quantization plugins do not implement is named at validation.
  fthost::sdk::PipelineFacts cuda;
  cuda.backend = fthost::sdk::BackendKind::cuda;
  CHECK(errors_of(Nf4QuantizationStrategy(options_from(quant_nf4_option_schema())).check(cuda),
                  ErrorCategory::not_implemented).size() == 1);
  CHECK(errors_of(Int8QuantizationStrategy(options_from(quant_int8_option_schema(),
                                                        {{"llm_int8_has_fp16_weight", true}})).check({}),
                  ErrorCategory::not_implemented).size() == 1);
}
