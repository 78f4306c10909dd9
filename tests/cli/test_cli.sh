#!/usr/bin/env bash
# The fthost command line as a user meets it: version, help, plugin listing and description,
# validate / run with overrides, and exit codes.
# usage: test_cli.sh FTHOST SOURCE_DIR
set -u
FTHOST=$1
cd "$2" || exit 1
source tests/cli/assert.sh
unset FTHOST_PLUGIN_PATH

run_fthost --version
expect_rc 0 "version"
expect_contains "$out" "plugin SDK ABI 3.0" "version names the SDK ABI"

run_fthost --help
expect_rc 0 "help"
for word in "plugins list" "plugins describe NAME" validate run "Exit codes"; do
  expect_contains "$out" "$word" "help mentions $word"
done
run_fthost validate --help
expect_rc 0 "validate --help"
expect_contains "$out" "usage: fthost validate PIPELINE.yaml" "validate --help"
run_fthost bogus
expect_rc 2 "unknown command"
expect_contains "$err" "unknown command 'bogus'" "unknown command message"
run_fthost --log-level loud plugins list
expect_rc 2 "bad log level"

run_fthost plugins list
expect_rc 0 "plugins list"
for pair in "precision precision" "quant_int8 quantization" "quant_nf4 quantization" "lora adapter" \
            "zero sharding" "megatron parallelism"; do
  read -r name kind <<<"$pair"
  line=$(grep -E "^$name +$kind +0\.1\.0 +/.*/libfthost-$name\.so$" <<<"$out")
  checks=$((checks + 1))
  if [[ -z "$line" ]]; then echo "FAIL [plugins list]: no row for $name ($kind)"; failures=$((failures + 1)); fi
done

# Each plugin describes the options its users know from the system it mirrors.
declare -A known_keys=(
  [precision]="dtype loss_scale initial_scale_power loss_scale_window hysteresis min_loss_scale"
  [lora]="r lora_alpha lora_dropout target_modules use_rslora init_lora_weights bias modules_to_save"
  [quant_nf4]="quant_type blocksize double_quant bnb_4bit_use_double_quant compute_dtype bnb_4bit_compute_dtype"
  [quant_int8]="llm_int8_threshold skip_modules"
  [zero]="stage offload_optimizer.device offload_param.device overlap_comm reduce_bucket_size allgather_bucket_size contiguous_gradients"
  [megatron]="tensor_model_parallel_size pipeline_model_parallel_size sequence_parallel"
)
for plugin in "${!known_keys[@]}"; do
  run_fthost plugins describe "$plugin"
  expect_rc 0 "describe $plugin"
  expect_contains "$out" "Status" "describe $plugin has a status"
  for key in ${known_keys[$plugin]}; do
    checks=$((checks + 1))
    if ! grep -qE "(^  $key +(bool|int|float|string|enum|list<string>) )|(also accepted as: .*\b$key\b)" <<<"$out"; then
      echo "FAIL [describe $plugin]: option $key not described"; failures=$((failures + 1))
    fi
  done
done
run_fthost plugins describe lorra
expect_rc 3 "describe a missing plugin"
expect_contains "$err" "no plugin named 'lorra' is installed (did you mean 'lora'?)" "describe suggests"

run_fthost sections
expect_rc 0 "sections"
for key in path backend seq_len learning_rate gradient_accumulation_steps activation_checkpointing.enabled keep_last; do
  expect_contains "$out" "  $key " "sections lists $key"
done

run_fthost validate configs/quickstart.yaml
expect_rc 0 "quickstart validates"
expect_contains "$out" "configs/quickstart.yaml: valid" "validate says valid"

# What the machine offers: GPUs (or why none), CPU cores, memory and units.
run_fthost hw
expect_rc 0 "hw"
expect_contains "$out" "GPUs" "hw lists GPUs"
expect_contains "$out" "logical cores" "hw describes the CPU"
expect_contains "$out" "backend cpu: full fine-tuning or LoRA" "hw says what runs here"
# The CUDA backend asked for where no GPU can run it: one line naming what was found, exit 2.
if [[ "$out" != *"what model.backend auto picks"* ]]; then
  run_fthost validate configs/quickstart.yaml model.backend=cuda
  expect_rc 2 "model.backend cuda without a usable GPU"
  expect_contains "$err" "configs/quickstart.yaml: model.backend: cuda, but " "the refusal names the pipeline and key"
  run_fthost validate configs/quickstart.yaml model.backend=auto
  expect_rc 0 "model.backend auto falls back to the CPU"
  run_fthost eval --model models/tiny-llama --data tests/fixtures/pipeline/train.jsonl --backend cuda
  expect_rc 2 "eval --backend cuda without a usable GPU"
  expect_contains "$err" "fthost: error: --backend cuda: " "eval names the option"
fi
run_fthost hw --json
expect_rc 2 "hw with an argument"

# Overrides on the command line, as Hydra / torchtune users write them.
run_fthost validate configs/quickstart.yaml training.learning_rate=fast
expect_rc 2 "override with a bad value"
expect_contains "$err" "fthost: error: command line: training.learning_rate must be a number, got 'fast'" "override error"
run_fthost validate configs/quickstart.yaml adapter.plugin=lora adapter.r=16
expect_rc 0 "adding an adapter by override validates"
run_fthost validate configs/lora.yaml "adapter.target_modules=[q_proj,lm_head]"
expect_rc 2 "LoRA on a head tied to the embedding"
expect_contains "$err" "target_modules include the output head (lm_head), which this model ties to its input embedding" "tied head named"
run_fthost validate configs/quickstart.yaml adapter.plugin=lora adapter.bias=all
expect_rc 4 "adding an adapter by override reaches the plugin's checks"
expect_contains "$err" "bias: all is not supported: only bias: none" "lora says what is not implemented"
run_fthost validate configs/quickstart.yaml adapter.plugin=lora adapter.rr=16
expect_rc 2 "override key typo"
expect_contains "$err" "command line: unknown key 'rr' in adapter (did you mean 'r'?)" "override typo suggestion"
run_fthost validate configs/quickstart.yaml training.seed
expect_rc 2 "malformed override"
run_fthost validate configs/quickstart.yaml ~output.dir
expect_rc 2 "deleting a required key"
expect_contains "$err" "missing required key 'dir' in output" "deleted key is reported missing"
run_fthost validate no/such/pipeline.yaml
expect_rc 2 "missing pipeline file"
expect_contains "$err" "cannot read pipeline 'no/such/pipeline.yaml': no such file" "missing pipeline message"

# run: validate, plan, train, save; then eval the saved model.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export FTHOST_CACHE_DIR="$scratch/cache"  # tokenized copies of text data go here, not to ~/.cache
run_fthost init-model --config tests/fixtures/pipeline/model/config.json --out "$scratch/base" --seed 3
expect_rc 0 "init-model"
expect_contains "$out" "wrote $scratch/base: llama" "init-model reports what it wrote"
run_fthost run configs/quickstart.yaml model.path="$scratch/base" data.train="$PWD/tests/fixtures/pipeline/train.jsonl" ~data.eval \
  data.seq_len=16 training.max_steps=4 training.warmup_steps=0 output.dir="$scratch/run"
expect_rc 0 "run trains"
expect_contains "$out" "method    full fine-tuning" "run prints the plan"
expect_contains "$out" "step 4/4  loss " "run logs steps"
expect_contains "$out" "model saved to $scratch/run/final" "run saves the final model"
checks=$((checks + 1))
if [[ ! -f "$scratch/run/final/model.safetensors" || ! -f "$scratch/run/final/config.json" ]]; then
  echo "FAIL [run]: no model folder at $scratch/run/final"; failures=$((failures + 1))
fi
run_fthost eval --model "$scratch/run/final" --data tests/fixtures/pipeline/train.jsonl --json
expect_rc 0 "eval --json"
checks=$((checks + 1))
if ! grep -qE '^\{"loss": [0-9.e+-]+, "perplexity": [0-9.e+-]+, "tokens": 5\}$' <<<"$out"; then
  echo "FAIL [eval --json]: unexpected output: $out"; failures=$((failures + 1))
fi

# Chat data through the model's tokenizer.json: loss only on assistant tokens, tokenizer copied to final/.
printf '%s' '{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 832, "max_position_embeddings": 256,
  "tie_word_embeddings": true}' >"$scratch/qwen2-config.json"
run_fthost init-model --config "$scratch/qwen2-config.json" --out "$scratch/chat-base" --seed 2
expect_rc 0 "init-model qwen2"
run_fthost validate configs/quickstart.yaml model.path="$scratch/chat-base" data.train="$PWD/tests/fixtures/data/chat.jsonl" ~data.eval \
  data.format=chat
expect_rc 2 "chat data without a tokenizer"
expect_contains "$err" "data.format: chat is tokenized with the model's tokenizer.json, and $scratch/chat-base/tokenizer.json does not exist" "tokenizer required"
cp tests/fixtures/tokenizer/qwen2/tokenizer.json tests/fixtures/tokenizer/qwen2/tokenizer_config.json "$scratch/chat-base/"
run_fthost run configs/quickstart.yaml model.path="$scratch/chat-base" data.train="$PWD/tests/fixtures/data/chat.jsonl" ~data.eval \
  data.format=chat data.seq_len=64 training.max_steps=30 training.warmup_steps=0 training.micro_batch_size=2 \
  training.learning_rate=3e-3 output.dir="$scratch/chat-run"
expect_rc 0 "run on chat data"
first_loss=$(grep -oE '^step 1/30  loss [0-9.]+' <<<"$out" | awk '{print $4}')
last_loss=$(grep -oE '^step 30/30  loss [0-9.]+' <<<"$out" | awk '{print $4}')
checks=$((checks + 1))
if ! awk -v a="$first_loss" -v b="$last_loss" 'BEGIN { exit !(b < 0.5 * a) }'; then
  echo "FAIL [chat run]: loss $first_loss -> $last_loss did not halve"; failures=$((failures + 1))
fi
checks=$((checks + 1))
if [[ ! -f "$scratch/chat-run/final/tokenizer.json" ]]; then
  echo "FAIL [chat run]: final/ lacks tokenizer.json"; failures=$((failures + 1))
fi

run_fthost eval --model "$scratch/chat-run/final" --data tests/fixtures/data/chat.jsonl --format chat --seq-len 64 --json
expect_rc 0 "eval on chat data"
eval_loss=$(grep -oE '"loss": [0-9.]+' <<<"$out" | awk '{print $2}')
checks=$((checks + 1))
if ! awk -v a="$last_loss" -v b="$eval_loss" 'BEGIN { exit !(b > 0 && b < a + 0.5) }'; then
  echo "FAIL [eval chat]: eval loss $eval_loss is not near the trained loss $last_loss"; failures=$((failures + 1))
fi

# The bundled quickstart: tiny Llama architecture + tokenizer, text data, eval split.
run_fthost init-model --config models/tiny-llama/config.json --out "$scratch/tiny" --seed 1
expect_rc 0 "init-model of the quickstart model"
expect_contains "$out" "with tokenizer.json" "init-model brings the tokenizer"
run_fthost run configs/quickstart.yaml model.path="$scratch/tiny" training.max_steps=3 training.eval_every=0 \
  output.dir="$scratch/quickstart"
expect_rc 0 "the quickstart pipeline trains"
expect_contains "$out" "data: 400 documents" "quickstart reads the bundled text"
expect_contains "$out" "eval at step 3: loss" "quickstart evaluates on the eval split"
expect_contains "$out" "report: $scratch/quickstart/report.html" "the run names its report"
expect_contains "$out" "data/quickstart/train.txt tokenized and cached in $FTHOST_CACHE_DIR/tokenized/" "the text is cached"
checks=$((checks + 1))
if ! grep -q "<polyline" "$scratch/quickstart/report.html" || ! grep -q "training.learning_rate" "$scratch/quickstart/report.html"; then
  echo "FAIL [report]: report.html lacks the loss curve or the settings"; failures=$((failures + 1))
fi
checks=$((checks + 1))
if [[ $(ls "$scratch/quickstart/tensorboard" | grep -c '^events.out.tfevents.') != 1 ]]; then
  echo "FAIL [tensorboard]: expected one event file in $scratch/quickstart/tensorboard"; failures=$((failures + 1))
fi
checks=$((checks + 1))
if [[ "$out" == *"ETA"* ]]; then echo "FAIL [progress]: a progress bar was drawn into a pipe"; failures=$((failures + 1)); fi
# On a terminal (util-linux `script` gives one) a progress bar is redrawn in place above nothing
# but the final line; the log lines stay.
if command -v script >/dev/null; then
  bar=$(script -qec "$FTHOST run configs/quickstart.yaml model.path=$scratch/tiny training.max_steps=3 training.eval_every=0 output.dir=$scratch/bar" /dev/null)
  rc=$?; out=$bar; err=""
  expect_rc 0 "a run on a terminal"
  expect_contains "$bar" "] 3/3  loss " "the bar shows step/total and loss"
  expect_contains "$bar" "tok/s  ETA 0:0" "the bar shows speed and ETA"
  expect_contains "$bar" $'\r\033[K' "the bar is redrawn in place"
  expect_contains "$bar" "step 3/3  loss" "log lines still appear"
  expect_contains "$bar" "data/quickstart/train.txt read from the tokenized cache" "a second run reads the cache"
fi
# The bundled pretrained model: loads and knows its stories (a random model's loss is ~6.6 = ln 767;
# the pretraining ended near 0.96), and the quickstart pipeline fine-tunes it as it is.
head -c 20000 data/pretrain/stories.txt | sed '$d' >"$scratch/stories.txt"
run_fthost eval --model models/tiny-llama --data "$scratch/stories.txt" --seq-len 128 --json
expect_rc 0 "eval of the bundled model"
checks=$((checks + 1))
if ! python3 -c "import json, sys; sys.exit(0 if json.loads(sys.argv[1])['loss'] < 1.5 else 1)" "$out"; then
  echo "FAIL [bundled model]: its loss on its own stories is not below 1.5: $out"; failures=$((failures + 1))
fi
run_fthost validate configs/quickstart.yaml
expect_rc 0 "the quickstart pipeline validates with the bundled model"
# Text data without a tokenizer is refused at validation, naming the missing file.
run_fthost validate configs/quickstart.yaml model.path="$scratch/base"
expect_rc 2 "text data, model without tokenizer.json"
expect_contains "$err" "$scratch/base/tokenizer.json does not exist" "missing tokenizer named"

# Malformed model folders: one line naming the file, exit code 2.
mkdir -p "$scratch/no-weights"
cp models/tiny-llama/config.json models/tiny-llama/tokenizer.json "$scratch/no-weights/"
run_fthost run configs/quickstart.yaml model.path="$scratch/no-weights" output.dir="$scratch/no-weights-run"
expect_rc 2 "run on a folder without weights"
expect_contains "$err" "fthost: error: $scratch/no-weights: has neither model.safetensors nor model.safetensors.index.json" "missing weights"
mkdir -p "$scratch/bad"
printf '{"model_type": "mamba"}' >"$scratch/bad/config.json"
run_fthost eval --model "$scratch/bad" --data tests/fixtures/pipeline/train.jsonl
expect_rc 2 "unknown model_type"
expect_contains "$err" "fthost: error: $scratch/bad/config.json: model_type 'mamba' is not supported" "unknown model_type message"
run_fthost init-model --config "$scratch/bad/config.json" --out "$scratch/never"
expect_rc 2 "init-model with a bad config"
checks=$((checks + 1))
if [[ -e "$scratch/never" ]]; then echo "FAIL [init-model]: wrote a folder for a bad config"; failures=$((failures + 1)); fi
run_fthost eval --model "$scratch/run/final"
expect_rc 2 "eval without --data"
expect_contains "$err" "the option '--data' is required" "eval names the missing option"

finish
