#pragma once
// The five strategy interfaces. Each answers one question about how to train (see
// docs/architecture.md, "where strategies meet"). This is their first version: later SDK versions
// append methods as the training loop asks more of them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fthost/sdk/context.hpp"
#include "fthost/sdk/error.hpp"
#include "fthost/sdk/ops.hpp"
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

// The loss scaler's state between optimizer steps. The host keeps it (and checkpoints it); the
// strategy decides how it moves. Field meanings follow DeepSpeed's DynamicLossScaler.
struct LossScaleState {
  double scale = 1.0;
  std::int64_t iteration = 0;                // optimizer steps attempted, skipped ones included
  std::int64_t last_overflow_iteration = -1;
  std::int64_t hysteresis = 1;               // overflows still tolerated before the scale halves
};

// In which dtype the step computes, keeps master weights and optimizer state, and whether the loss
// is scaled.
class PrecisionStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::precision; }
  virtual DType compute_dtype() const = 0;
  virtual DType master_weight_dtype() const = 0;
  virtual bool scales_loss() const = 0;

  // The scaler before the first step (scale 1 when the loss is not scaled).
  virtual LossScaleState initial_loss_scale_state() const = 0;
  // The state after a step whose gradients did (`overflow`: an inf or NaN) or did not overflow;
  // the host skips an overflowed step (no update, no schedule advance). An error stops the run
  // (DeepSpeed: an overflow at the minimum scale).
  virtual Result<LossScaleState> update_loss_scale(const LossScaleState& state, bool overflow) const = 0;
};

// A tensor a quantized site keeps in memory, named relative to the site ("weight",
// "weight.absmax"); the host allocates it and keeps it as long as the model.
struct QuantizedTensor {
  std::string name;
  DType dtype = DType::u8;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

// One tensor of the saved format (e.g. bitsandbytes' state dict), named relative to the site.
struct SavedTensor {
  std::string name;
  DType dtype = DType::u8;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

// A saved tensor as a model folder holds it: a view valid during the call it is passed to.
struct SavedTensorView {
  DType dtype = DType::u8;
  std::span<const std::int64_t> shape;
  std::span<const std::byte> bytes;
};

// The saved tensors of one site, by name relative to the site.
class SavedTensorReader {
 public:
  virtual ~SavedTensorReader() = default;
  virtual std::optional<SavedTensorView> find(std::string_view name) const = 0;
  // Where the tensors come from, for errors ("models/x/model.safetensors").
  virtual std::string source() const = 0;
};

// How frozen base weights are stored and multiplied. The host keeps a quantized site's tensors
// (site_layout) instead of its dense weight and calls these hooks where the dense weight would
// be used; the site's bias, when it has one, stays dense and is the host's.
class QuantizationStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::quantization; }
  virtual bool quantizes(const LinearSite& site) const = 0;
  // Bits per stored weight including per-block constants, for memory planning.
  virtual double bits_per_weight() const = 0;

  // ---- since SDK 3.0: storage and arithmetic (called only for sites quantizes() accepts) ----
  virtual std::vector<QuantizedTensor> site_layout(const LinearSite& site) const = 0;
  // stored (in site_layout order) <- weight[out, in], the dense f32 weight.
  virtual void quantize(const LinearSite& site, const TensorRef& weight, std::span<const TensorRef> stored,
                        Ops& ops) const = 0;
  // weight[out, in] (f32) <- the weight the stored tensors represent, as forward multiplies it.
  virtual void dequantize(const LinearSite& site, std::span<const TensorRef> stored, const TensorRef& weight,
                          Ops& ops) const = 0;
  // output[tokens, out] = input[tokens, in] @ weight^T (overwritten).
  virtual void forward(const LinearSite& site, std::span<const TensorRef> stored, const TensorRef& input,
                       const TensorRef& output, Ops& ops) const = 0;
  // d_input[tokens, in] += d_output[tokens, out] @ weight. The weight itself is frozen.
  virtual void backward(const LinearSite& site, std::span<const TensorRef> stored, const TensorRef& d_output,
                        const TensorRef& d_input, Ops& ops) const = 0;

  // ---- the saved format ----
  // The tensors a model folder holds for the site, instead of "<site>.weight".
  virtual std::vector<SavedTensor> save(const LinearSite& site, std::span<const TensorRef> stored) const = 0;
  // Whether `saved` holds this site quantized (else the host quantizes its dense weight).
  virtual bool saved_quantized(const LinearSite& site, const SavedTensorReader& saved) const = 0;
  // stored <- a folder's saved tensors. Errors name the source, the key and what was expected.
  virtual Errors load(const LinearSite& site, const SavedTensorReader& saved, std::span<const TensorRef> stored) const = 0;
  // config.json's "quantization_config" object, as JSON text; the host loads a folder that has
  // one with the plugin named by its "fthost_plugin" key (bitsandbytes' folders: see
  // docs/quantization.md), passing the keys that plugin's option schema knows.
  virtual std::string quantization_config_json() const = 0;
};

// What an adapter adds to one linear site. Parameter names are relative to the site
// ("lora_A.weight"); activations are per-token tensors [tokens, width] the forward pass keeps
// for the backward pass (the host allocates them for the batch and recomputes them with the
// layer when activation checkpointing drops them).
struct AdapterTensor {
  std::string name;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

struct SiteAdapterLayout {
  std::vector<AdapterTensor> parameters;     // trainable, in the order the hooks receive them
  std::vector<AdapterTensor> activations;    // rows unused (the batch's token count); cols = width
};

// The host-owned tensors of one adapted site, in SiteAdapterLayout order.
struct SiteAdapterTensors {
  std::span<const TensorRef> parameters;
  std::span<const TensorRef> gradients;      // empty outside training; accumulate into these
  std::span<const TensorRef> activations;    // [tokens, width] for the current rows
};

struct AdapterPass {
  bool training = false;     // dropout and other train-only behaviour
  std::uint64_t seed = 0;    // distinct per step, micro-batch and site; equal in a recompute
};

// Which extra trainable parameters sit beside a frozen linear, and what they compute.
// The base weight stays frozen: the host computes base(x) and never forms its gradient.
class AdapterStrategy : public Strategy {
 public:
  StrategyKind kind() const final { return StrategyKind::adapter; }
  virtual bool targets(const LinearSite& site) const = 0;
  virtual std::int64_t trainable_parameters(const LinearSite& site) const = 0;

  // ---- training (called only for sites where targets() is true) ----
  virtual SiteAdapterLayout site_layout(const LinearSite& site) const = 0;
  // Sets the initial parameter values; `seed` is distinct per site.
  virtual void initialize(const LinearSite& site, const SiteAdapterTensors& tensors, std::uint64_t seed,
                          Ops& ops) const = 0;
  // output[tokens, out] already holds base(input); the adapter adds its contribution.
  virtual void forward(const LinearSite& site, const SiteAdapterTensors& tensors, const TensorRef& input,
                       const TensorRef& output, const AdapterPass& pass, Ops& ops) const = 0;
  // After forward with the same pass: tensors.gradients += d/dparameters, d_input += d/dinput
  // (d_input may be undefined when nothing below needs it).
  virtual void backward(const LinearSite& site, const SiteAdapterTensors& tensors, const TensorRef& input,
                        const TensorRef& d_output, const TensorRef& d_input, const AdapterPass& pass,
                        Ops& ops) const = 0;
  // weight[out, in] += the adapter's contribution folded into the base weight, so that
  // weight @ x equals base(x) + adapter(x) at inference.
  virtual void merge(const LinearSite& site, const SiteAdapterTensors& tensors, const TensorRef& weight,
                     Ops& ops) const = 0;

  // Modules of the base model trained in full beside the adapters (PEFT's modules_to_save): each
  // entry selects the base parameters "<module>.<name>" whose module is the entry or ends with
  // "." + entry. The host trains copies of them; the base stays frozen.
  virtual std::vector<std::string> modules_to_save() const = 0;

  // ---- the saved format (PEFT's: adapter_config.json + adapter_model.safetensors) ----
  // The key a parameter has in the saved file ("base_model.model.<site>.lora_A.weight").
  virtual std::string saved_tensor_name(const LinearSite& site, const AdapterTensor& tensor) const = 0;
  // The key of a module-to-save copy of base parameter `parameter` ("base_model.model.lm_head.weight").
  virtual std::string saved_module_tensor_name(std::string_view parameter) const = 0;
  // adapter_config.json's text; the host loads such a file back with the plugin named by its
  // "peft_type" in lower case, passing the keys its option schema knows.
  virtual std::string adapter_config_json(std::string_view base_model_name_or_path) const = 0;
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
