#include "fthost/runtime/host_schema.hpp"

namespace fthost::runtime {

// Names follow what Hugging Face Trainer / DeepSpeed users already write, so a pipeline reads
// familiar: learning_rate, weight_decay, gradient_accumulation_steps, max_grad_norm, warmup_steps.

const sdk::OptionSchema& model_section_schema() {
  static const sdk::OptionSchema schema = [] {
    sdk::OptionSchema s;
    s.add_string("path", "", "Hugging Face model folder (config.json + *.safetensors), relative to this file")
        .make_required();
    s.add_enum("backend", "auto", {"auto", "cpu", "cuda"},
               "where to train: cuda = the first visible GPU (pick one with CUDA_VISIBLE_DEVICES), an error when "
               "there is none; cpu; auto = cuda when this build has the CUDA backend and a GPU is present, unless a "
               "strategy of the pipeline runs on the CPU only, else cpu");
    return s;
  }();
  return schema;
}

const sdk::OptionSchema& data_section_schema() {
  static const sdk::OptionSchema schema = [] {
    sdk::OptionSchema s;
    s.add_string("train", "", "training data file, relative to this file").make_required();
    s.add_string("eval", "", "evaluation data file (empty: none, or eval_split)");
    s.add_float("eval_split", 0.0,
                "without an eval file: this fraction of the training documents is held out for evaluation "
                "(chosen by training.seed)")
        .range(0.0, 0.5);
    s.add_enum("format", "auto", {"auto", "tokens", "text", "jsonl", "instruction", "chat"},
               "tokens: {\"input_ids\"} JSONL; text: blank-line separated; jsonl: {\"text\"}; instruction: "
               "prompt/completion or Alpaca; chat: {\"messages\"}; auto: by extension and first record");
    s.add_string("chat_template", "chatml",
                 "format chat: chatml, llama3, or a per-message template with {role} and {content}");
    s.add_int("seq_len", 512, "tokens per training sequence").range(8, 1 << 20);
    s.add_bool("packing", true, "pack several documents per sequence (attention never crosses documents)");
    s.add_bool("shuffle", true, "shuffle examples each epoch (seeded by training.seed)");
    s.add_bool("tokenized_cache", true,
               "keep a tokenized copy of text data ($FTHOST_CACHE_DIR, else ~/.cache/fthost) so later runs skip "
               "tokenizing; off: the tokens go to a temporary file in $TMPDIR");
    s.add_bool("skip_bad_lines", false, "skip malformed JSONL lines (counted) instead of stopping (text formats)");
    return s;
  }();
  return schema;
}

const sdk::OptionSchema& training_section_schema() {
  static const sdk::OptionSchema schema = [] {
    sdk::OptionSchema s;
    s.add_int("max_steps", 0, "optimizer steps to run; 0: run `epochs` epochs").at_least(0);
    s.add_int("epochs", 1, "passes over the training data when max_steps is 0").at_least(1);
    s.add_int("micro_batch_size", 1, "sequences per forward/backward pass").at_least(1);
    s.add_int("gradient_accumulation_steps", 1, "micro-batches per optimizer step").at_least(1);
    s.add_float("learning_rate", 1e-4, "peak learning rate").greater_than(0);
    s.add_float("weight_decay", 0.0, "AdamW decoupled weight decay").at_least(0);
    s.add_float("adam_beta1", 0.9, "AdamW beta1").range(0, 1).below(1);
    s.add_float("adam_beta2", 0.999, "AdamW beta2").range(0, 1).below(1);
    s.add_float("adam_epsilon", 1e-8, "AdamW epsilon").greater_than(0);
    s.add_enum("lr_scheduler", "constant", {"constant", "linear", "cosine"}, "learning-rate decay after warmup");
    s.add_int("warmup_steps", 0, "steps of warmup from 0 to learning_rate").at_least(0);
    s.add_enum("warmup_type", "linear", {"linear", "log"}, "warmup curve, as DeepSpeed's WarmupLR");
    s.add_float("max_grad_norm", 1.0, "clip the global gradient norm to this; 0 disables clipping").at_least(0);
    s.add_int("seed", 42, "seed for initialisation, dropout and data order").at_least(0);
    s.add_bool("activation_checkpointing.enabled", false, "recompute block activations in backward to save memory");
    s.add_int("activation_checkpointing.every_n_layers", 1, "checkpoint one block in every N").at_least(1);
    s.add_int("eval_every", 0, "evaluate every N optimizer steps; 0: only at the end").at_least(0);
    s.add_int("log_every", 1, "print a progress line every N optimizer steps (metrics.jsonl gets every step)").at_least(1);
    return s;
  }();
  return schema;
}

const sdk::OptionSchema& output_section_schema() {
  static const sdk::OptionSchema schema = [] {
    sdk::OptionSchema s;
    s.add_string("dir", "", "run folder for checkpoints, metrics and the final model, relative to this file")
        .make_required();
    s.add_int("save_every", 0, "checkpoint every N optimizer steps, and always at the end; 0: only at the end").at_least(0);
    s.add_int("keep_last", 2, "checkpoints kept; older ones are deleted").at_least(1);
    return s;
  }();
  return schema;
}

const std::vector<HostSection>& host_sections() {
  static const std::vector<HostSection> sections = {
      {"model", "the base model", model_section_schema()},
      {"data", "training and evaluation data", data_section_schema()},
      {"training", "optimizer, schedule and loop", training_section_schema()},
      {"output", "where results go", output_section_schema()},
  };
  return sections;
}

}  // namespace fthost::runtime
