#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "fthost/runtime/option_validation.hpp"

using fthost::runtime::check_section;
using fthost::sdk::ErrorCategory;
using fthost::sdk::OptionSchema;

namespace {

OptionSchema lora_like_schema() {
  OptionSchema schema;
  schema.add_int("r", 8, "rank").at_least(1);
  schema.add_float("lora_alpha", 8.0, "alpha");
  schema.add_float("lora_dropout", 0.0, "dropout").range(0, 1).below(1);
  schema.add_enum("bias", "none", {"none", "all", "lora_only"}, "bias");
  schema.add_string_list("target_modules", {"q_proj", "v_proj"}, "targets");
  schema.add_bool("double_quant", false, "double quantization").alias("bnb_4bit_use_double_quant");
  schema.add_enum("offload_optimizer.device", "none", {"none", "cpu"}, "where optimizer states live");
  schema.add_int("reduce_bucket_size", 500000000, "elements per bucket");
  schema.add_string("path", "", "a required path").make_required();
  return schema;
}

fthost::runtime::SectionCheck check(const std::string& yaml) {
  return check_section(YAML::Load(yaml), lora_like_schema(), "adapter", "pipeline.yaml", {"plugin"});
}

}  // namespace

TEST_CASE("a valid section fills defaults and converts types") {
  auto result = check("plugin: lora\npath: x\nr: 16\nlora_dropout: 0.05\ntarget_modules: all-linear\n"
                      "reduce_bucket_size: 2e8\noffload_optimizer:\n  device: cpu\n");
  REQUIRE(result.errors.empty());
  CHECK(result.options.get_int("r") == 16);
  CHECK(result.options.get_float("lora_alpha") == 8.0);
  CHECK(result.options.get_float("lora_dropout") == doctest::Approx(0.05));
  CHECK(result.options.get_string_list("target_modules") == std::vector<std::string>{"all-linear"});
  CHECK(result.options.get_int("reduce_bucket_size") == 200000000);
  CHECK(result.options.get_string("offload_optimizer.device") == "cpu");
  CHECK(result.options.get_string("bias") == "none");
}

TEST_CASE("an unknown key names file, line, column and the closest key") {
  auto result = check("path: x\nr: 16\nlora_alpah: 32\n");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].category == ErrorCategory::invalid_input);
  CHECK(result.errors[0].message ==
        "pipeline.yaml:3:1: unknown key 'lora_alpah' in adapter (did you mean 'lora_alpha'?)");
}

TEST_CASE("an unknown nested key is reported with its dotted name") {
  auto result = check("path: x\noffload_optimizer:\n  devcie: cpu\n");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "pipeline.yaml:3:3: unknown key 'offload_optimizer.devcie' in adapter "
                                    "(did you mean 'offload_optimizer.device'?)");
}

TEST_CASE("wrong types, ranges and enum values are each reported") {
  auto result = check("path: x\nr: sixteen\nlora_dropout: 1.0\nbias: al\ndouble_quant: maybe\nreduce_bucket_size: 1.5\n");
  REQUIRE(result.errors.size() == 5);
  CHECK(result.errors[0].message == "pipeline.yaml:2:4: adapter.r must be an integer, got 'sixteen'");
  CHECK(result.errors[1].message == "pipeline.yaml:3:15: adapter.lora_dropout = 1.0 is out of range: must be in [0, 1)");
  CHECK(result.errors[2].message ==
        "pipeline.yaml:4:7: adapter.bias must be one of none, all, lora_only, got 'al' (did you mean 'all'?)");
  CHECK(result.errors[3].message == "pipeline.yaml:5:15: adapter.double_quant must be true or false, got 'maybe'");
  CHECK(result.errors[4].message == "pipeline.yaml:6:21: adapter.reduce_bucket_size must be an integer, got '1.5'");
}

TEST_CASE("a lower bound is checked") {
  auto result = check("path: x\nr: 0\n");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "pipeline.yaml:2:4: adapter.r = 0 is out of range: must be >= 1");
}

TEST_CASE("a missing required key is reported at the section") {
  auto result = check("r: 4\n");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "pipeline.yaml:1:1: missing required key 'path' in adapter (a required path)");
}

TEST_CASE("an alias is accepted, and giving both spellings is an error") {
  auto alias_only = check("path: x\nbnb_4bit_use_double_quant: true\n");
  REQUIRE(alias_only.errors.empty());
  CHECK(alias_only.options.get_bool("double_quant"));

  auto both = check("path: x\ndouble_quant: true\nbnb_4bit_use_double_quant: false\n");
  REQUIRE(both.errors.size() == 1);
  CHECK(both.errors[0].message ==
        "pipeline.yaml:3:1: 'double_quant' and 'bnb_4bit_use_double_quant' in adapter are the same option; give only one");
}

TEST_CASE("a section that is not a mapping is refused") {
  auto result = check("[1, 2]");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "pipeline.yaml:1:1: section 'adapter' must be a mapping of keys to values");
}

TEST_CASE("a key far from every valid one lists the valid keys") {
  OptionSchema schema;
  schema.add_int("stage", 0, "ZeRO stage");
  auto result = check_section(YAML::Load("learning_rate: 3\n"), schema, "sharding", "p.yaml", {"plugin"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "p.yaml:1:1: unknown key 'learning_rate' in sharding (valid keys: stage, plugin)");
}
