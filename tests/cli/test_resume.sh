#!/usr/bin/env bash
# Checkpoints and resume as a user meets them: a resumed run's losses equal the uninterrupted
# run's bit for bit, and killing fthost with SIGKILL (also in the middle of a save) never leaves a
# checkpoint that cannot be resumed from.
# usage: test_resume.sh FTHOST SOURCE_DIR
set -u
FTHOST=$1
cd "$2" || exit 1
source tests/cli/assert.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

python3 - "$scratch/data.jsonl" <<'PY'
import random, sys
random.seed(3)
with open(sys.argv[1], "w") as out:
    for _ in range(60):
        ids = [random.randint(0, 255) for _ in range(random.randint(8, 30))]
        out.write('{"input_ids": [' + ", ".join(map(str, ids)) + "]}\n")
PY
run_fthost init-model --config tests/fixtures/pipeline/model/config.json --out "$scratch/base" --seed 3
expect_rc 0 "init-model"

train() {  # train OUTPUT_DIR STEPS [extra args...]
  local output=$1 steps=$2
  shift 2
  "$FTHOST" run configs/quickstart.yaml model.path="$scratch/base" data.train="$scratch/data.jsonl" ~data.eval data.seq_len=32 \
    training.max_steps="$steps" training.warmup_steps=3 output.save_every=3 output.keep_last=3 output.dir="$output" "$@"
}
# "step loss" for every training step of a metrics.jsonl, losses at full precision.
losses() { python3 -c "
import json, sys
for line in open(sys.argv[1]):
    record = json.loads(line)
    if 'loss' in record: print(record['step'], repr(record['loss']))
" "$1"; }

train "$scratch/full" 12 >"$scratch/full.log" 2>&1
rc=$?; out=$(cat "$scratch/full.log"); err=""
expect_rc 0 "uninterrupted run"
losses "$scratch/full/metrics.jsonl" >"$scratch/full.losses"
checks=$((checks + 1))
if [[ $(wc -l <"$scratch/full.losses") -ne 12 ]]; then echo "FAIL: metrics.jsonl has not 12 steps"; failures=$((failures + 1)); fi
checks=$((checks + 1))
if [[ "$(ls "$scratch/full/checkpoints")" != $'step-00000006\nstep-00000009\nstep-00000012' ]]; then
  echo "FAIL: keep_last=3 should leave steps 6, 9, 12; found: $(ls "$scratch/full/checkpoints" | tr '\n' ' ')"
  failures=$((failures + 1))
fi

# Resume from step 6 in a fresh output folder: steps 7..12 must equal the uninterrupted run's.
mkdir -p "$scratch/resumed/checkpoints"
cp -r "$scratch/full/checkpoints/step-00000006" "$scratch/resumed/checkpoints/"
train "$scratch/resumed" 12 --resume >"$scratch/resumed.log" 2>&1
rc=$?; out=$(cat "$scratch/resumed.log"); err=""
expect_rc 0 "resumed run"
expect_contains "$out" "resumed from $scratch/resumed/checkpoints/step-00000006 at step 6" "resume says where from"
losses "$scratch/resumed/metrics.jsonl" >"$scratch/resumed.losses"
checks=$((checks + 1))
if ! diff <(sed -n '7,12p' "$scratch/full.losses") "$scratch/resumed.losses" >/dev/null; then
  echo "FAIL: resumed losses differ from the uninterrupted run's:"; diff <(sed -n '7,12p' "$scratch/full.losses") "$scratch/resumed.losses"
  failures=$((failures + 1))
fi

# A new run into a folder that already holds one is refused rather than mixing the two.
train "$scratch/full" 12 >"$scratch/again.log" 2>&1
rc=$?; out=""; err=$(cat "$scratch/again.log")
expect_rc 2 "a second run into the same output.dir"
expect_contains "$err" "already holds a run (checkpoints or metrics.jsonl): continue it with --resume" "reuse message"

# Resuming with a setting that changes the trajectory is refused, naming the setting.
mkdir -p "$scratch/changed/checkpoints"
cp -r "$scratch/full/checkpoints/step-00000006" "$scratch/changed/checkpoints/"
train "$scratch/changed" 12 training.learning_rate=1 --resume >"$scratch/changed.log" 2>&1
rc=$?; out=""; err=$(cat "$scratch/changed.log")
expect_rc 2 "resume with another learning rate"
expect_contains "$err" "the checkpoint was made with training.learning_rate = " "changed setting named"

# A checkpoint from another seed is refused, naming both.
train "$scratch/resumed" 12 training.seed=7 --resume >"$scratch/seed.log" 2>&1
rc=$?; out=""; err=$(cat "$scratch/seed.log")
expect_rc 2 "resume with another seed"
expect_contains "$err" "the checkpoint was made with training.seed 42, the pipeline has 7" "seed mismatch message"

# SIGKILL at varying moments, saving every step: whatever is left must resume to the same losses.
killed_mid_save=0
# "save-N": kill as soon as the temporary folder of step N's save appears; a number: kill after that
# many seconds.
for delay in save-3 save-5 save-7 save-9 0.4 0.9 1.5; do
  rm -rf "$scratch/killed"
  "$FTHOST" run configs/quickstart.yaml model.path="$scratch/base" data.train="$scratch/data.jsonl" ~data.eval data.seq_len=32 \
    training.max_steps=12 training.warmup_steps=3 output.save_every=1 output.keep_last=2 output.dir="$scratch/killed" \
    >/dev/null 2>&1 &
  pid=$!
  if [[ "$delay" == save-* ]]; then
    for _ in $(seq 1 50000); do
      compgen -G "$scratch/killed/checkpoints/.step-0000000${delay#save-}.tmp-*" >/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
    done
  else
    sleep "$delay"
  fi
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if compgen -G "$scratch/killed/checkpoints/.step-*.tmp-*" >/dev/null; then killed_mid_save=$((killed_mid_save + 1)); fi
  [[ -d "$scratch/killed/checkpoints" ]] || continue
  # Every checkpoint folder that exists is complete and loads as a model.
  for checkpoint in "$scratch/killed/checkpoints"/step-*; do
    [[ -e "$checkpoint" ]] || continue
    run_fthost eval --model "$checkpoint" --data "$scratch/data.jsonl" --seq-len 32
    expect_rc 0 "a checkpoint left by SIGKILL loads ($checkpoint)"
  done
  "$FTHOST" run configs/quickstart.yaml model.path="$scratch/base" data.train="$scratch/data.jsonl" ~data.eval data.seq_len=32 \
    training.max_steps=12 training.warmup_steps=3 output.save_every=1 output.keep_last=2 output.dir="$scratch/killed" \
    --resume >"$scratch/killed.log" 2>&1
  rc=$?; out=$(cat "$scratch/killed.log"); err=""
  if [[ "$out$err" == *"no checkpoint to resume from"* ]]; then continue; fi
  # The kill came after the run had finished: nothing to resume, its losses are checked below.
  if [[ "$out" != *"already finished all 12 steps"* ]]; then expect_rc 0 "resume after SIGKILL ($delay)"; fi
  losses "$scratch/killed/metrics.jsonl" >"$scratch/killed.losses"
  checks=$((checks + 1))
  if ! diff "$scratch/full.losses" "$scratch/killed.losses" >/dev/null; then
    echo "FAIL: after SIGKILL ($delay) and resume, losses differ:"; diff "$scratch/full.losses" "$scratch/killed.losses"
    failures=$((failures + 1))
  fi
done
echo "note: $killed_mid_save of 7 kills landed in the middle of a save"
checks=$((checks + 1))
if [[ $killed_mid_save -eq 0 ]]; then echo "FAIL: no kill landed in the middle of a save"; failures=$((failures + 1)); fi

finish
