#pragma once
// Validated spec -> strategies built by their plugins and checked against the whole pipeline
// (backend, world size). The result is what the trainer will run, and what `fthost run` prints.

#include <memory>
#include <string>
#include <vector>

#include "backend/select_backend.hpp"
#include "fthost/runtime/pipeline.hpp"
#include "fthost/sdk/context.hpp"
#include "fthost/sdk/strategy.hpp"

namespace fthost::runtime {

// The host services behind sdk::Context.
class HostContext final : public sdk::Context {
 public:
  HostContext(std::string plugin_name, sdk::BackendKind backend, int rank, int world_size, std::uint64_t seed);
  void log(sdk::LogLevel level, std::string_view message) const override;
  sdk::BackendKind backend() const override { return backend_; }
  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::uint64_t seed() const override { return seed_; }

 private:
  std::string plugin_name_;
  sdk::BackendKind backend_;
  int rank_;
  int world_size_;
  std::uint64_t seed_;
};

struct ComposedStrategy {
  const StrategyChoice* choice = nullptr;  // points into ComposedPipeline::spec
  std::unique_ptr<HostContext> context;
  std::unique_ptr<sdk::Strategy> strategy;
};

struct ComposedPipeline {
  PipelineSpec spec;
  backend::BackendResolution backend;  // where the run trains (model.backend resolved)
  sdk::PipelineFacts facts;
  std::vector<ComposedStrategy> strategies;
};

struct Composition {
  std::unique_ptr<ComposedPipeline> pipeline;  // heap: strategies keep pointers into spec
  sdk::Errors errors;
};

// The rank and world size this process was launched with (mpirun / torchrun variables), 0 and 1 otherwise.
struct LaunchRanks {
  int rank = 0;
  int world_size = 1;
};
LaunchRanks launch_ranks_from_environment();

Composition compose_pipeline(PipelineSpec spec);

// The human-readable plan: one line per decision.
std::vector<std::string> describe_plan(const ComposedPipeline& pipeline);

}  // namespace fthost::runtime
