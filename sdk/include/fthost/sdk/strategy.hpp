#pragma once
// The five strategy interfaces. Each answers one question about how to train (see
// docs/architecture.md, "where strategies meet"). This is their first version: later SDK versions
// append methods as the training loop asks more of them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/context.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/types.hpp"

namespace fthost::sdk {

enum class StrategyKind : std::uint8_t { precision, quantization, adapter, sharding, parallelism };

inline constexpr StrategyKind all_strategy_kinds[] = {StrategyKind::precision, StrategyKind::quantization,
                                                      StrategyKind::adapter, StrategyKind::sharding,
                                                      StrategyKind::parallelism};

inline std::string_view to_string(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::precision: return "precision";
    case StrategyKind::quantization: return "quantization";
    case StrategyKind::adapter: return "adapter";
    case StrategyKind::sharding: return "sharding";
    case StrategyKind::parallelism: return "parallelism";
  }
  return "?";
}

inline std::optional<StrategyKind> strategy_kind_from_string(std::string_view text) {
  for (StrategyKind kind : all_strategy_kinds) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

// The model dimensions a strategy may check its options against (divisibility, ranks).
struct ModelShape {
  std::int64_t num_layers = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t vocab_size = 0;
};

// What the host knows about the whole pipeline when it validates one strategy.
struct PipelineFacts {
  BackendKind backend = BackendKind::cpu;
  int world_size = 1;
  std::optional<ModelShape> model;   // set once the model's config.json has been read
  std::vector<LinearSite> sites;     // every linear site of the model, when known
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual StrategyKind kind() const = 0;

  // Whole-pipeline checks: backend support, world-size arithmetic, model dimensions. Returns every
  // problem found; a behaviour this build does not implement yet is an Error::not_implemented.
  virtual Errors check(const PipelineFacts& facts) const = 0;

  // One line per decision, for the composed plan that `fthost run` prints.
  virtual std::vector<std::string> describe_plan(const PipelineFacts& facts) const = 0;
};

// In which dtype the step computes, keeps master weights and optimizer state, and whether the loss
// is scaled.
class PrecisionStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::precision; }
  virtual DType compute_dtype() const = 0;
  virtual DType master_weight_dtype() const = 0;
  virtual bool scales_loss() const = 0;
};

// How frozen base weights are stored and multiplied.
class QuantizationStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::quantization; }
  virtual bool quantizes(const LinearSite& site) const = 0;
  // Bits per stored weight including per-block constants, for memory planning.
  virtual double bits_per_weight() const = 0;
};

// Which extra trainable parameters sit beside a frozen linear.
class AdapterStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::adapter; }
  virtual bool targets(const LinearSite& site) const = 0;
  virtual std::int64_t trainable_parameters(const LinearSite& site) const = 0;
};

// Which model states are partitioned over the data-parallel ranks, and where they live.
struct ShardingLayout {
  bool optimizer_states = false;  // ZeRO stage >= 1
  bool gradients = false;         // ZeRO stage >= 2
  bool parameters = false;        // ZeRO stage 3
  bool optimizer_on_host = false; // offload_optimizer.device: cpu
  bool parameters_on_host = false; // offload_param.device: cpu
};

class ShardingStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::sharding; }
  virtual ShardingLayout layout() const = 0;
};

// How layers are split over ranks and how micro-batches flow through them.
struct ParallelLayout {
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  bool sequence_parallel = false;
  int virtual_pipeline_stages = 1;
};

class ParallelismStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::parallelism; }
  virtual ParallelLayout layout() const = 0;
};

}  // namespace fthost::sdk
