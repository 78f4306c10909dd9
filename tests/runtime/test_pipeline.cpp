#include <doctest/doctest.h>

#include "fthost/runtime/compose.hpp"
#include "fthost/runtime/pipeline.hpp"
#include "test_support.hpp"

using fthost::runtime::load_pipeline;
using fthost::runtime::Override;
using fthost::runtime::parse_override;
using fthost::runtime::PluginRegistry;
using fthost::sdk::ErrorCategory;
using fthost::testing::install_test_plugin;
using fthost::testing::TemporaryFolder;

namespace {

// A folder with a model directory, a data file and a test adapter plugin.
struct PipelineFixture {
  TemporaryFolder folder;
  TemporaryFolder plugins;
  PluginRegistry registry;

  PipelineFixture() : registry(make_registry(plugins)) {
    folder.write("model/config.json",
                 R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256})");
    folder.write("train.jsonl", "{\"input_ids\": [1, 2, 3]}\n");
  }

  static PluginRegistry make_registry(const TemporaryFolder& plugin_folder) {
    install_test_plugin(plugin_folder, "good");
    auto registry = PluginRegistry::discover({plugin_folder.path()});
    REQUIRE(registry.ok());
    return std::move(*registry);
  }

  fthost::runtime::PipelineLoad load(const std::string& yaml, const std::vector<std::string>& override_texts = {}) {
    folder.write("pipeline.yaml", yaml);
    std::vector<Override> overrides;
    for (const auto& text : override_texts) {
      auto parsed = parse_override(text);
      REQUIRE(parsed.ok());
      overrides.push_back(*parsed);
    }
    return load_pipeline(folder.path() / "pipeline.yaml", overrides, registry);
  }

  std::string file() const { return (folder.path() / "pipeline.yaml").string(); }
};

const std::string minimal = "model:\n  path: model\ndata:\n  train: train.jsonl\noutput:\n  dir: out\n";

}  // namespace

TEST_CASE("a minimal pipeline is valid, with paths relative to the pipeline file") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal);
  REQUIRE(load.errors.empty());
  CHECK(load.spec.model_path == fixture.folder.path() / "model");
  CHECK(load.spec.train_data_path == fixture.folder.path() / "train.jsonl");
  CHECK(load.spec.output_dir == fixture.folder.path() / "out");
  CHECK(load.spec.training.get_float("learning_rate") == doctest::Approx(1e-4));
  CHECK(load.spec.strategies.empty());
}

TEST_CASE("a strategy section is validated against its plugin's schema") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n  rank: 16\n  alpah: 2\n");
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].message == fixture.file() + ":10:3: unknown key 'alpah' in adapter (did you mean 'alpha'?)");
}

TEST_CASE("a plugin under the wrong section is refused") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "quantization:\n  plugin: test_adapter\n");
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].message == fixture.file() +
                                      ":8:11: plugin 'test_adapter' is an adapter plugin; it belongs under 'adapter:', "
                                      "not 'quantization:'");
}

TEST_CASE("a missing plugin is a plugin error at the plugin key") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adaptr\n");
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].category == ErrorCategory::plugin);
  CHECK(load.errors[0].message == fixture.file() +
                                      ":8:11: no adapter plugin named 'test_adaptr' is installed (did you mean "
                                      "'test_adapter'?); installed adapter plugins: test_adapter");
}

TEST_CASE("unknown sections, missing files and missing required keys are all reported together") {
  PipelineFixture fixture;
  auto load = fixture.load("model:\n  path: nowhere\ntrainig:\n  seed: 1\noutput:\n  dir: out\n");
  REQUIRE(load.errors.size() == 3);
  CHECK(load.errors[0].message == fixture.file() + ":3:1: unknown section 'trainig' (did you mean 'training'?)");
  CHECK(load.errors[1].message == fixture.file() + ": missing required key 'train' in data (training data file, "
                                                   "relative to this file)");
  CHECK(load.errors[2].message == fixture.file() + ":2:9: '" + (fixture.folder.path() / "nowhere").string() +
                                      "' (path) is not a folder");
}

TEST_CASE("command-line overrides set, add and delete keys before validation") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n  rank: 16\n",
                           {"adapter.rank=32", "adapter.targets=[q_proj, k_proj]", "adapter.nested.flag=true",
                            "training.learning_rate=3e-4"});
  REQUIRE(load.errors.empty());
  const auto* adapter = load.spec.strategy(fthost::sdk::StrategyKind::adapter);
  REQUIRE(adapter != nullptr);
  CHECK(adapter->options.get_int("rank") == 32);
  CHECK(adapter->options.get_string_list("targets") == std::vector<std::string>{"q_proj", "k_proj"});
  CHECK(adapter->options.get_bool("nested.flag"));
  CHECK(load.spec.training.get_float("learning_rate") == doctest::Approx(3e-4));

  auto removed = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n", {"~adapter"});
  REQUIRE(removed.errors.empty());
  CHECK(removed.spec.strategy(fthost::sdk::StrategyKind::adapter) == nullptr);
}

TEST_CASE("an override with a misspelt key says it came from the command line") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n", {"adapter.rnak=4"});
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].message == "command line: unknown key 'rnak' in adapter (did you mean 'rank'?)");
}

TEST_CASE("malformed overrides are refused") {
  CHECK_FALSE(parse_override("adapter.rank").ok());
  CHECK_FALSE(parse_override("adapter..rank=3").ok());
  PipelineFixture fixture;
  auto load = fixture.load(minimal, {"model.path.deeper=1"});
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].message ==
        "command line: override 'model.path.deeper=1': 'path' is not a section, so it has no key 'deeper'");
}

TEST_CASE("YAML syntax errors give the position") {
  PipelineFixture fixture;
  auto load = fixture.load("model:\n  path: [unclosed\n");
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].message.starts_with(fixture.file() + ":3:1: invalid YAML: "));
}

TEST_CASE("composition builds each strategy and collects its checks") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n  rank: 3\n");
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  REQUIRE(composition.errors.empty());
  REQUIRE(composition.pipeline->strategies.size() == 1);
  auto plan = fthost::runtime::describe_plan(*composition.pipeline);
  CHECK(plan.back() == "adapter: test adapter of rank 3");
  CHECK(std::find(plan.begin(), plan.end(), "method    full fine-tuning") == plan.end());
}

TEST_CASE("composition reads the model's shape and linear sites from config.json") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal);
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  REQUIRE(composition.errors.empty());
  const auto& facts = composition.pipeline->facts;
  REQUIRE(facts.model.has_value());
  CHECK(facts.model->num_attention_heads == 4);
  CHECK(facts.model->num_key_value_heads == 2);
  CHECK(facts.sites.size() == 2 * 7 + 1);
  CHECK(facts.sites.front().name == "model.layers.0.self_attn.q_proj");
}

TEST_CASE("a broken config.json is reported at validation") {
  PipelineFixture fixture;
  fixture.folder.write("model/config.json", "{\"model_type\": \"mamba\"}");
  auto load = fixture.load(minimal);
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  REQUIRE(composition.errors.size() == 1);
  CHECK(composition.errors[0].message.find("model_type 'mamba' is not supported") != std::string::npos);
}

TEST_CASE("a launcher's world size above 1 is refused: multi-rank training does not exist yet") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal);
  REQUIRE(load.errors.empty());
  setenv("WORLD_SIZE", "4", 1);
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  unsetenv("WORLD_SIZE");
  REQUIRE(composition.errors.size() == 1);
  CHECK(composition.errors[0].category == ErrorCategory::not_implemented);
  CHECK(composition.errors[0].message.starts_with("world size 4"));
}

TEST_CASE("an exception thrown by a plugin's create() becomes an internal error") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n  throw_on_create: 1\n");
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  REQUIRE(composition.errors.size() == 1);
  CHECK(composition.errors[0].category == ErrorCategory::internal);
  CHECK(composition.errors[0].message.find("plugin threw while creating its strategy: create() exploded") !=
        std::string::npos);
}

TEST_CASE("an exception thrown by a strategy's check() becomes an internal error naming the plugin") {
  PipelineFixture fixture;
  auto load = fixture.load(minimal + "adapter:\n  plugin: test_adapter\n  throw_on_check: true\n");
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  REQUIRE(composition.errors.size() == 1);
  CHECK(composition.errors[0].category == ErrorCategory::internal);
  CHECK(composition.errors[0].message.find("adapter 'test_adapter': plugin threw from check(): check() exploded") !=
        std::string::npos);
}

TEST_CASE("model.backend: cuda without a usable GPU is refused naming what was found; auto falls back to the CPU") {
  const fthost::backend::BackendResolution cuda = fthost::backend::resolve_backend("cuda");
  PipelineFixture fixture;
  auto load = fixture.load(minimal, {"model.backend=cuda"});
  REQUIRE(load.errors.empty());
  auto composition = fthost::runtime::compose_pipeline(std::move(load.spec));
  if (!cuda.problem.empty()) {
    REQUIRE(composition.errors.size() == 1);
    CHECK(composition.errors[0].category == ErrorCategory::invalid_input);
    const std::string& message = composition.errors[0].message;
    CHECK(message.find("model.backend: cuda, but ") != std::string::npos);
    CHECK(message.find(fthost::backend::cuda_backend_built() ? "no CUDA device" : "no CUDA backend") != std::string::npos);

    auto automatic = fixture.load(minimal, {"model.backend=auto"});
    REQUIRE(automatic.errors.empty());
    auto on_cpu = fthost::runtime::compose_pipeline(std::move(automatic.spec));
    CHECK(on_cpu.errors.empty());
    CHECK(on_cpu.pipeline->facts.backend == fthost::sdk::BackendKind::cpu);
    CHECK(on_cpu.pipeline->backend.description == "cpu");
  } else {  // a GPU machine: the request is met
    CHECK(composition.errors.empty());
    CHECK(composition.pipeline->facts.backend == fthost::sdk::BackendKind::cuda);
  }
}
