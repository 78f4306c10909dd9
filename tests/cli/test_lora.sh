#!/usr/bin/env bash
# LoRA as a user runs it: configs/lora.yaml trains an adapter with the base frozen and writes a
# PEFT folder; eval --adapter and merge use it; a resumed LoRA run (dropout on) repeats the
# uninterrupted run's losses bit for bit; deleting the adapter: section switches to full
# fine-tuning with no rebuild; an adapter for another model is refused naming the tensor.
# usage: test_lora.sh FTHOST SOURCE_DIR
set -u
FTHOST=$1
cd "$2" || exit 1
source tests/cli/assert.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

python3 - "$scratch" <<'PY'
import random, sys
random.seed(5)
# A small "language": documents that repeat short motifs, so an adapter has something to learn.
motifs = [[random.randint(0, 255) for _ in range(6)] for _ in range(8)]
def document():
    ids = []
    while len(ids) < 40:
        ids += random.choice(motifs)
    return ids
for name, count in (("train", 80), ("eval", 16)):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as out:
        for _ in range(count):
            out.write('{"input_ids": [' + ", ".join(map(str, document())) + "]}\n")
PY
run_fthost init-model --config tests/fixtures/pipeline/model/config.json --out "$scratch/base" --seed 4
expect_rc 0 "init-model"

train() {  # train OUTPUT_DIR STEPS [extra args...]
  local output=$1 steps=$2
  shift 2
  "$FTHOST" run configs/lora.yaml model.path="$scratch/base" data.train="$scratch/train.jsonl" \
    data.eval="$scratch/eval.jsonl" data.seq_len=48 training.max_steps="$steps" training.eval_every=0 \
    training.learning_rate=5e-3 output.save_every=3 output.keep_last=5 adapter.lora_dropout=0.1 output.dir="$output" "$@"
}
losses() { python3 -c "
import json, sys
for line in open(sys.argv[1]):
    record = json.loads(line)
    if 'loss' in record and 'perplexity' not in record: print(record['step'], repr(record['loss']))
" "$1"; }
json_loss() { python3 -c "import json, sys; print(json.loads(sys.argv[1])['loss'])" "$1"; }

train "$scratch/lora" 12 >"$scratch/lora.log" 2>&1
rc=$?; out=$(cat "$scratch/lora.log"); err=""
expect_rc 0 "LoRA run"
expect_contains "$out" "adapter: lora: r=16, lora_alpha=32 (scale 2.0), dropout 0.1" "plan shows the adapter"
expect_contains "$out" "trainable; base frozen" "the run says the base is frozen"
checks=$((checks + 1))
if [[ "$(ls "$scratch/lora/final" | grep -v tokenizer | tr '\n' ' ')" != "adapter_config.json adapter_model.safetensors " ]]; then
  echo "FAIL: final/ should be a PEFT adapter folder; has: $(ls "$scratch/lora/final" | tr '\n' ' ')"; failures=$((failures + 1))
fi
checks=$((checks + 1))
if [[ -e "$scratch/lora/checkpoints/step-00000006/model.safetensors" ||
      ! -e "$scratch/lora/checkpoints/step-00000006/adapter_model.safetensors" ]]; then
  echo "FAIL: a LoRA checkpoint holds the adapter, not the base"; failures=$((failures + 1))
fi

# The adapter lowers the eval loss of its base; merged into the base it gives the same loss.
run_fthost eval --model "$scratch/base" --data "$scratch/eval.jsonl" --seq-len 48 --json
expect_rc 0 "eval of the base"
base_loss=$(json_loss "$out")
run_fthost eval --model "$scratch/base" --adapter "$scratch/lora/final" --data "$scratch/eval.jsonl" --seq-len 48 --json
expect_rc 0 "eval with --adapter"
adapted_loss=$(json_loss "$out")
checks=$((checks + 1))
if ! python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) < float(sys.argv[1]) - 0.3 else 1)" "$base_loss" "$adapted_loss"; then
  echo "FAIL: the adapter should lower eval loss by > 0.3: base $base_loss, with adapter $adapted_loss"; failures=$((failures + 1))
fi
run_fthost merge --model "$scratch/base" --adapter "$scratch/lora/final" --out "$scratch/merged"
expect_rc 0 "merge"
expect_contains "$out" "with lora merged into 14 linear sites" "merge says what it did"
run_fthost eval --model "$scratch/merged" --data "$scratch/eval.jsonl" --seq-len 48 --json
merged_loss=$(json_loss "$out")
checks=$((checks + 1))
if ! python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= 1e-5 * b else 1)" "$merged_loss" "$adapted_loss"; then
  echo "FAIL: merged loss $merged_loss differs from base + adapter $adapted_loss"; failures=$((failures + 1))
fi

# Resume from step 6: the rest of the run (dropout masks included) repeats bit for bit.
losses "$scratch/lora/metrics.jsonl" >"$scratch/full.losses"
mkdir -p "$scratch/resumed/checkpoints"
cp -r "$scratch/lora/checkpoints/step-00000006" "$scratch/resumed/checkpoints/"
train "$scratch/resumed" 12 --resume >"$scratch/resumed.log" 2>&1
rc=$?; out=$(cat "$scratch/resumed.log"); err=""
expect_rc 0 "resumed LoRA run"
losses "$scratch/resumed/metrics.jsonl" >"$scratch/resumed.losses"
checks=$((checks + 1))
if ! diff <(sed -n '7,12p' "$scratch/full.losses") "$scratch/resumed.losses" >/dev/null; then
  echo "FAIL: resumed LoRA losses differ:"; diff <(sed -n '7,12p' "$scratch/full.losses") "$scratch/resumed.losses"
  failures=$((failures + 1))
fi
train "$scratch/resumed" 12 adapter.r=8 --resume >"$scratch/changed.log" 2>&1
rc=$?; out=""; err=$(cat "$scratch/changed.log")
expect_rc 2 "resume with another LoRA rank"
expect_contains "$err" "the checkpoint was made with adapter.r = 16, the pipeline now gives 8" "changed adapter option named"

# Mixed precision by override, no rebuild: bf16 tracks fp32's losses; fp16's loss scale goes to
# metrics.jsonl and into checkpoints, and a resumed fp16 run repeats the uninterrupted one.
train "$scratch/bf16" 6 precision.plugin=precision precision.dtype=bf16 >"$scratch/bf16.log" 2>&1
rc=$?; out=$(cat "$scratch/bf16.log"); err=""
expect_rc 0 "LoRA in bf16"
expect_contains "$out" "precision: bf16 compute, fp32 master weights" "plan shows bf16"
checks=$((checks + 1))
if ! python3 - "$scratch/full.losses" "$scratch/bf16/metrics.jsonl" <<'PY'
import json, sys
fp32 = [float(line.split()[1]) for line in open(sys.argv[1])][:6]
bf16 = [json.loads(line)["loss"] for line in open(sys.argv[2]) if '"loss"' in line and "eval_loss" not in line]
sys.exit(0 if len(bf16) == 6 and all(abs(a - b) / a < 0.02 for a, b in zip(fp32, bf16)) and fp32 != bf16 else 1)
PY
then echo "FAIL: bf16 losses do not track fp32's within 2%"; failures=$((failures + 1)); fi
train "$scratch/fp16" 6 precision.plugin=precision precision.dtype=fp16 >"$scratch/fp16.log" 2>&1
rc=$?; out=$(cat "$scratch/fp16.log"); err=""
expect_rc 0 "LoRA in fp16"
expect_contains "$(cat "$scratch/fp16/metrics.jsonl")" '"loss_scale":65536.0' "the loss scale is in metrics.jsonl"
expect_contains "$(cat "$scratch/fp16/checkpoints/step-00000003/trainer_state.json")" '"scale": 65536.0' "and in checkpoints"
losses "$scratch/fp16/metrics.jsonl" >"$scratch/fp16.losses"
mkdir -p "$scratch/fp16-resumed/checkpoints"
cp -r "$scratch/fp16/checkpoints/step-00000003" "$scratch/fp16-resumed/checkpoints/"
train "$scratch/fp16-resumed" 6 precision.plugin=precision precision.dtype=fp16 --resume >"$scratch/fp16r.log" 2>&1
rc=$?; out=$(cat "$scratch/fp16r.log"); err=""
expect_rc 0 "resumed fp16 run"
checks=$((checks + 1))
if ! diff <(sed -n '4,6p' "$scratch/fp16.losses") <(losses "$scratch/fp16-resumed/metrics.jsonl") >/dev/null; then
  echo "FAIL: resumed fp16 losses differ"; failures=$((failures + 1))
fi

# modules_to_save trains a whole module beside the adapters and saves it as PEFT does.
train "$scratch/modules" 3 "adapter.modules_to_save=[lm_head]" >"$scratch/modules.log" 2>&1
rc=$?; out=$(cat "$scratch/modules.log"); err=""
expect_rc 0 "LoRA with modules_to_save"
checks=$((checks + 1))
if ! python3 - "$scratch/modules/final/adapter_model.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
sys.exit(0 if "base_model.model.lm_head.weight" in header else 1)
PY
then echo "FAIL: the adapter file lacks base_model.model.lm_head.weight"; failures=$((failures + 1)); fi
run_fthost merge --model "$scratch/base" --adapter "$scratch/modules/final" --out "$scratch/modules-merged"
expect_rc 0 "merge with a saved module"
run_fthost eval --model "$scratch/modules-merged" --data "$scratch/eval.jsonl" --seq-len 48 --json
merged_modules=$(json_loss "$out")
run_fthost eval --model "$scratch/base" --adapter "$scratch/modules/final" --data "$scratch/eval.jsonl" --seq-len 48 --json
checks=$((checks + 1))
if ! python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= 1e-5 * b else 1)" "$merged_modules" "$(json_loss "$out")"; then
  echo "FAIL: merged loss with a saved module differs from base + adapter"; failures=$((failures + 1))
fi

# The same pipeline without its adapter: section trains the whole model.
train "$scratch/full" 2 '~adapter' >"$scratch/full.log" 2>&1
rc=$?; out=$(cat "$scratch/full.log"); err=""
expect_rc 0 "the pipeline without adapter:"
expect_contains "$out" "method    full fine-tuning" "plan says full fine-tuning"
checks=$((checks + 1))
if [[ ! -e "$scratch/full/final/model.safetensors" ]]; then echo "FAIL: full fine-tuning writes a model"; failures=$((failures + 1)); fi

# An adapter made for another model is refused, naming the file and the tensor.
run_fthost eval --model "$scratch/base" --adapter tests/fixtures/peft/llama_gqa_peft --data "$scratch/eval.jsonl"
expect_rc 2 "adapter of another model"
expect_contains "$err" "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight' has shape [112, 4], expected [128, 4]" "shape mismatch named"
run_fthost eval --model "$scratch/base" --adapter "$scratch/base" --data "$scratch/eval.jsonl"
expect_rc 2 "a model folder is not an adapter"
expect_contains "$err" "adapter_config.json: no such file" "missing adapter_config.json"

finish
