#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lora_strategy.hpp"
#include "strategy_test_support.hpp"

using fthost::plugins::lora_option_schema;
using fthost::plugins::LoraStrategy;
using fthost::sdk::ErrorCategory;
using fthost::sdk::LinearSite;
using namespace fthost::testing;

namespace {

LoraStrategy lora_with(std::initializer_list<std::pair<std::string, fthost::sdk::OptionValue>> overrides = {}) {
  return LoraStrategy(options_from(lora_option_schema(), overrides));
}

std::vector<std::string> names(std::initializer_list<const char*> items) { return {items.begin(), items.end()}; }

}  // namespace

TEST_CASE("lora: the defaults are PEFT's LoraConfig defaults with Llama's target modules") {
  fthost::sdk::OptionSchema schema = lora_option_schema();
  fthost::sdk::Options options = options_from(schema);
  CHECK(options.get_int("r") == 8);
  CHECK(options.get_float("lora_alpha") == 8.0);
  CHECK(options.get_float("lora_dropout") == 0.0);
  CHECK(options.get_string_list("target_modules") == names({"q_proj", "v_proj"}));
  CHECK(options.get_string("bias") == "none");
  CHECK(options.get_string("init_lora_weights") == "true");
  CHECK_FALSE(options.get_bool("use_rslora"));
}

TEST_CASE("lora: target_modules match a full name or a '.'-separated suffix, as PEFT does") {
  LoraStrategy strategy = lora_with();
  CHECK(strategy.targets(linear_site("model.layers.0.self_attn.q_proj", 4096, 4096)));
  CHECK(strategy.targets(linear_site("model.layers.31.self_attn.v_proj", 4096, 1024)));
  CHECK(strategy.targets(linear_site("q_proj", 64, 64)));
  CHECK_FALSE(strategy.targets(linear_site("model.layers.0.self_attn.q_proj_extra", 4096, 4096)));
  CHECK_FALSE(strategy.targets(linear_site("model.layers.0.self_attn.xq_proj", 4096, 4096)));
  CHECK_FALSE(strategy.targets(linear_site("model.layers.0.self_attn.k_proj", 4096, 4096)));

  LoraStrategy dotted = lora_with({{"target_modules", names({"mlp.down_proj"})}});
  CHECK(dotted.targets(linear_site("model.layers.2.mlp.down_proj", 11008, 4096, fthost::sdk::SiteRole::row)));
  CHECK_FALSE(dotted.targets(linear_site("model.layers.2.self_attn.down_proj", 11008, 4096)));
}

TEST_CASE("lora: all-linear targets every linear except the output head") {
  LoraStrategy strategy = lora_with({{"target_modules", names({"all-linear"})}});
  std::vector<LinearSite> sites = llama_sites({.layers = 2});
  for (const LinearSite& site : sites) {
    CAPTURE(site.name);
    CHECK(strategy.targets(site) == !site.is_output_head);
  }
  // Naming the head explicitly still adapts it, as in PEFT.
  LoraStrategy head = lora_with({{"target_modules", names({"lm_head"})}});
  CHECK(head.targets(sites.back()));
}

TEST_CASE("lora: trainable parameters are r * (in + out) per targeted site") {
  LoraStrategy strategy = lora_with({{"r", std::int64_t{16}}});
  CHECK(strategy.trainable_parameters(linear_site("model.layers.0.self_attn.q_proj", 4096, 4096)) ==
        16 * (4096 + 4096));
  CHECK(strategy.trainable_parameters(linear_site("model.layers.0.self_attn.v_proj", 4096, 1024)) ==
        16 * (4096 + 1024));
  CHECK(strategy.trainable_parameters(linear_site("model.layers.0.self_attn.k_proj", 4096, 1024)) == 0);

  // Llama-2-7B, every linear but lm_head, r = 8: 19.99M (QLoRA accounting in the reference notes).
  LoraStrategy all_linear = lora_with({{"target_modules", names({"all-linear"})}});
  std::int64_t total = 0;
  for (const LinearSite& site : llama_sites()) total += all_linear.trainable_parameters(site);
  CHECK(total == 19988480);
}

TEST_CASE("lora: modules_to_save trains the whole module") {
  LoraStrategy strategy = lora_with({{"modules_to_save", names({"lm_head"})}});
  LinearSite head = linear_site("lm_head", 4096, 32000, fthost::sdk::SiteRole::column, true);
  CHECK(strategy.trainable_parameters(head) == 4096 * 32000);
}

TEST_CASE("lora: the plan states r, alpha, the scale, dropout and targets") {
  LoraStrategy strategy = lora_with({{"r", std::int64_t{16}}, {"lora_alpha", 32.0}, {"lora_dropout", 0.05}});
  CHECK(strategy.scaling() == doctest::Approx(2.0));
  std::vector<std::string> plan = strategy.describe_plan({});
  CHECK(plan.at(0) == "lora: r=16, lora_alpha=32 (scale 2.0), dropout 0.05, targets q_proj, v_proj");
}

TEST_CASE("lora: rsLoRA scales by lora_alpha / sqrt(r)") {
  LoraStrategy strategy = lora_with({{"r", std::int64_t{16}}, {"lora_alpha", 16.0}, {"use_rslora", true}});
  CHECK(strategy.scaling() == doctest::Approx(4.0));
  CHECK(contains(strategy.describe_plan({}).at(0), "(rsLoRA scale 4.0)"));
}

TEST_CASE("lora: with the model's sites the plan counts targeted sites and trainable parameters") {
  LoraStrategy strategy = lora_with({{"target_modules", names({"all-linear"})}});
  std::vector<std::string> plan = strategy.describe_plan(facts_with_sites(llama_sites()));
  CHECK(contains(plan.at(0), "targets all linear layers except the output head"));
  CHECK(plan.back() == "lora: adapts 224 of 225 linear sites, 19,988,480 trainable parameters");
}

TEST_CASE("lora: check reports option mistakes together with what is not implemented") {
  SUBCASE("defaults: no error") {
    CHECK(lora_with().check(facts_with_sites(llama_sites({.layers = 1}))).empty());
  }
  SUBCASE("r = 0 and bias all are both reported") {
    fthost::sdk::Errors errors = lora_with({{"r", std::int64_t{0}}, {"bias", "all"}}).check({});
    CHECK(errors.size() == 2);
    CHECK(has_error(errors, ErrorCategory::invalid_input, "r must be at least 1 (got 0)"));
    CHECK(has_error(errors, ErrorCategory::not_implemented, "bias: all is not supported: only bias: none"));
  }
  SUBCASE("modules_to_save are the plugin's to name, the host's to check") {
    LoraStrategy strategy = lora_with({{"modules_to_save", names({"lm_head"})}});
    CHECK(strategy.check({}).empty());
    CHECK(strategy.modules_to_save() == std::vector<std::string>{"lm_head"});
    CHECK(strategy.saved_module_tensor_name("lm_head.weight") == "base_model.model.lm_head.weight");
  }
  SUBCASE("an adapter on the output head is allowed when named (the host refuses it for tied heads)") {
    CHECK(lora_with({{"target_modules", names({"q_proj", "lm_head"})}})
              .check(facts_with_sites(llama_sites({.layers = 1})))
              .empty());
  }
  SUBCASE("target_modules that match no site") {
    fthost::sdk::Errors errors =
        lora_with({{"target_modules", names({"query", "value"})}}).check(facts_with_sites(llama_sites({.layers = 1})));
    CHECK(has_error(errors, ErrorCategory::invalid_input,
                    "target_modules [query, value] match none of the model's 8 linear sites"));
  }
  SUBCASE("empty target_modules") {
    fthost::sdk::Errors errors = lora_with({{"target_modules", std::vector<std::string>{}}}).check({});
    CHECK(has_error(errors, ErrorCategory::invalid_input, "target_modules is empty"));
  }
}
