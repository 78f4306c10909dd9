#!/usr/bin/env bash
# Quantization as a user meets it: fthost quantize writes bitsandbytes-layout folders (nf4 with
# double quantization, int8) that are smaller and evaluate close to the dense model; configs/qlora.yaml
# trains LoRA on a 4-bit base, as well as the same LoRA on the dense base; an adapter trained on the
# quantized base merges into a dense folder; a pipeline that quantizes without an adapter, a
# quantized folder without its quantization: section, bad --method / --blocksize / target or skip
# modules and a folder missing a quant-state key are refused with one line and exit code 2; a
# resumed QLoRA run repeats the uninterrupted one.
# usage: test_quantize.sh FTHOST SOURCE_DIR
set -u
FTHOST=$1
cd "$2" || exit 1
source tests/cli/assert.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
json_loss() { python3 -c "import json, sys; print(json.loads(sys.argv[1])['loss'])" "$1"; }
# within A B TOLERANCE: |A - B| <= TOLERANCE
within() { python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= t else 1)" "$@"; }
check() {  # check LABEL COMMAND...
  checks=$((checks + 1))
  local label=$1
  shift
  if ! "$@"; then echo "FAIL [$label]"; failures=$((failures + 1)); fi
}
model=models/tiny-llama
eval_data=data/quickstart/eval.txt

run_fthost quantize --model $model --method nf4 --double-quant --out "$scratch/nf4"
expect_rc 0 "quantize nf4"
expect_contains "$out" "quantized by quant_nf4" "quantize nf4 summary"
expect_contains "$out" "(4.127 bits per weight)" "nf4 + double quant: 4.127 bits per weight"
run_fthost quantize --model $model --method int8 --out "$scratch/int8"
expect_rc 0 "quantize int8"
check "the quantized folders are smaller" python3 -c "
import os, sys
dense, nf4, int8 = (os.path.getsize(p + '/model.safetensors') for p in sys.argv[1:])
sys.exit(0 if nf4 < int8 < 0.4 * dense else 1)" $model "$scratch/nf4" "$scratch/int8"
check "bitsandbytes' keys and config" python3 -c "
import json, struct, sys
folder = sys.argv[1]
with open(folder + '/model.safetensors', 'rb') as f:
    header = json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))
site = 'model.layers.0.self_attn.q_proj.weight'
need = ['', '.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map', '.quant_state.bitsandbytes__nf4']
ok = all(site + suffix in header for suffix in need) and header[site]['dtype'] == 'U8'
config = json.load(open(folder + '/config.json'))['quantization_config']
ok = ok and config['load_in_4bit'] and config['bnb_4bit_quant_type'] == 'nf4' and config['bnb_4bit_use_double_quant']
sys.exit(0 if ok else 1)" "$scratch/nf4"

run_fthost eval --model $model --data $eval_data --seq-len 128 --json
dense_loss=$(json_loss "$out")
run_fthost eval --model "$scratch/nf4" --data $eval_data --seq-len 128 --json
expect_rc 0 "eval of the nf4 folder"
nf4_loss=$(json_loss "$out")
run_fthost eval --model "$scratch/int8" --data $eval_data --seq-len 128 --json
expect_rc 0 "eval of the int8 folder"
int8_loss=$(json_loss "$out")
# the bundled model's eval loss is ~7.2 on this text; quantization moves it by far less than 1%
check "nf4 eval loss near the dense one ($nf4_loss vs $dense_loss)" within "$nf4_loss" "$dense_loss" 0.05
check "int8 eval loss near the dense one ($int8_loss vs $dense_loss)" within "$int8_loss" "$dense_loss" 0.01
check "quantization changes the numbers" python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) != float(sys.argv[2]) else 1)" "$nf4_loss" "$dense_loss"

# QLoRA from the pre-quantized folder (read, not re-quantized) and LoRA on the dense base
train() {  # train CONFIG OUTPUT [overrides...]
  local config=$1 output=$2
  shift 2
  run_fthost run "$config" training.max_steps=30 training.eval_every=0 output.dir="$output" "$@"
}
train configs/qlora.yaml "$scratch/qlora" model.path="$scratch/nf4"
expect_rc 0 "qlora run on the quantized folder"
expect_contains "$out" "stored by quant_nf4" "the run names the quantized storage"
train configs/lora-bf16.yaml "$scratch/lora"
expect_rc 0 "bf16 lora run"
run_fthost eval --model "$scratch/nf4" --adapter "$scratch/qlora/final" --data $eval_data --seq-len 128 --json
expect_rc 0 "eval of the QLoRA adapter on the quantized base"
qlora_loss=$(json_loss "$out")
run_fthost eval --model $model --adapter "$scratch/lora/final" --data $eval_data --seq-len 128 --json
lora_loss=$(json_loss "$out")
check "QLoRA lowers eval loss ($nf4_loss -> $qlora_loss)" python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) < float(sys.argv[1]) - 2 else 1)" "$nf4_loss" "$qlora_loss"
check "QLoRA lowers it about as much as bf16 LoRA ($qlora_loss vs $lora_loss)" within "$qlora_loss" "$lora_loss" 0.05

run_fthost merge --model "$scratch/nf4" --adapter "$scratch/qlora/final" --out "$scratch/merged"
expect_rc 0 "merge into the quantized base"
expect_contains "$out" "merged model is dense f32" "merge says the result is dense"
run_fthost eval --model "$scratch/merged" --data $eval_data --seq-len 128 --json
expect_rc 0 "eval of the merged folder"
check "merged == quantized base + adapter" within "$(json_loss "$out")" "$qlora_loss" 1e-4

# a QLoRA run resumed from its checkpoint repeats the uninterrupted run's losses bit for bit
resume_args=(training.max_steps=8 output.save_every=4 training.eval_every=0 model.path="$scratch/nf4")
run_fthost run configs/qlora.yaml "${resume_args[@]}" output.dir="$scratch/whole"
expect_rc 0 "uninterrupted QLoRA run"
cp -r "$scratch/whole" "$scratch/resumed"
rm -rf "$scratch/resumed/checkpoints/step-00000008" "$scratch/resumed/final"
python3 - "$scratch/resumed/metrics.jsonl" <<'PY'
import json, sys
lines = [line for line in open(sys.argv[1]) if json.loads(line).get("step", 0) <= 4]
open(sys.argv[1], "w").writelines(lines)
PY
run_fthost run configs/qlora.yaml "${resume_args[@]}" output.dir="$scratch/resumed" --resume latest
expect_rc 0 "resumed QLoRA run"
check "resumed QLoRA losses equal the uninterrupted run's" python3 -c "
import json, sys
def losses(path): return {r['step']: r.get('loss') for r in map(json.loads, open(path)) if 'loss' in r}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
sys.exit(0 if a == b and max(a) == 8 else 1)" "$scratch/whole/metrics.jsonl" "$scratch/resumed/metrics.jsonl"

# bad input: one line naming what is wrong, exit code 2
run_fthost quantize --model $model --method nf3 --out "$scratch/bad"
expect_rc 2 "unknown method"
expect_contains "$err" "--method must be nf4, fp4 or int8" "unknown method message"
run_fthost quantize --model $model --method nf4 --blocksize 100 --out "$scratch/bad"
expect_rc 2 "blocksize not a power of two"
expect_contains "$err" "blocksize (100) must be a power of two" "blocksize message"
run_fthost quantize --model $model --method nf4 --blocksize 8192 --out "$scratch/bad"
expect_rc 2 "blocksize out of range"
run_fthost quantize --model $model --method int8 --skip-modules lm_head no_such_proj --out "$scratch/bad"
expect_rc 2 "skip module that does not exist"
expect_contains "$err" "skip_modules entry 'no_such_proj' matches no linear site" "skip module message"
run_fthost quantize --model $model --method nf4 --target-modules q_proj v_proj gate_projection --out "$scratch/bad"
expect_rc 2 "quantizing a site that does not exist"
expect_contains "$err" "target_modules entry 'gate_projection' matches no linear site" "target module message"
run_fthost quantize --model $model --method nf4 --target-modules q_proj v_proj --out "$scratch/qv"
expect_rc 0 "quantize only q_proj and v_proj"
expect_contains "$out" "8 linear sites" "4 layers x (q_proj, v_proj)"
run_fthost quantize --model "$scratch/nf4" --method nf4 --out "$scratch/bad"
expect_rc 2 "quantizing a quantized folder"
check "no partial output folder" test ! -e "$scratch/bad/model.safetensors"
run_fthost validate configs/lora.yaml model.path="$scratch/nf4"
expect_rc 2 "quantized folder without a quantization section"
expect_contains "$err" "the weights are bitsandbytes 4-bit nf4, double-quantized; name the plugin" "names the plugin to use"
# a folder whose quant-state key is missing (renamed in place, same length)
cp -r "$scratch/nf4" "$scratch/broken"
python3 - "$scratch/broken/model.safetensors" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
old = b'model.layers.1.mlp.up_proj.weight.quant_state.bitsandbytes__nf4'
new = b'model.layers.1.mlp.up_proj.weight.quant_state.bitsandbytes__xx4'
at = data.find(old)
assert at > 0
data[at:at + len(old)] = new
open(path, 'wb').write(bytes(data))
PY
run_fthost eval --model "$scratch/broken" --data $eval_data --seq-len 128
expect_rc 2 "missing quant-state key"
expect_contains "$err" "missing tensor 'model.layers.1.mlp.up_proj.weight.quant_state.bitsandbytes__nf4'" "names the missing key"
finish
