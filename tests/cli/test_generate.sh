#!/usr/bin/env bash
# fthost generate as a user runs it: deterministic greedy output, seeded sampling, --max-new-tokens,
# an adapter that changes the text, and one-line errors for bad options.
# (tests/transformer/test_generation.cpp holds the cached decoding to the full forward pass.)
# usage: test_generate.sh FTHOST SOURCE_DIR
set -u
FTHOST=$1
cd "$2" || exit 1
source tests/cli/assert.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run_fthost init-model --config models/tiny-llama/config.json --out "$scratch/model" --seed 2
expect_rc 0 "init-model"

run_fthost generate --model "$scratch/model" --prompt "At the library" --max-new-tokens 12
expect_rc 0 "greedy generation"
expect_contains "$err" "generated 12 tokens after a" "summary on stderr"
expect_contains "$err" "stopped: --max-new-tokens reached" "stop reason"
greedy=$out
checks=$((checks + 1))
if [[ -z "$greedy" ]]; then echo "FAIL: greedy generation printed nothing"; failures=$((failures + 1)); fi
run_fthost generate --model "$scratch/model" --prompt "At the library" --max-new-tokens 12
expect_rc 0 "greedy again"
checks=$((checks + 1))
if [[ "$out" != "$greedy" ]]; then echo "FAIL: greedy generation is not deterministic"; failures=$((failures + 1)); fi

sample() { "$FTHOST" generate --model "$scratch/model" --prompt "At the library" --max-new-tokens 12 --temperature 1.5 "$@" 2>/dev/null; }
checks=$((checks + 1))
if [[ "$(sample --seed 1)" != "$(sample --seed 1)" ]]; then echo "FAIL: the same seed sampled different text"; failures=$((failures + 1)); fi
checks=$((checks + 1))
if [[ "$(sample --seed 1)" == "$(sample --seed 2)" && "$(sample --seed 3)" == "$(sample --seed 4)" ]]; then
  echo "FAIL: different seeds sampled the same text twice"; failures=$((failures + 1))
fi
checks=$((checks + 1))
if [[ "$(sample --seed 1 --top-k 1)" != "$greedy" ]]; then echo "FAIL: top-k 1 should be greedy"; failures=$((failures + 1)); fi

# An adapter (random A and B: init_lora_weights false, one step at learning rate 0) changes the text.
"$FTHOST" run configs/lora.yaml model.path="$scratch/model" training.max_steps=1 training.warmup_steps=5 \
  training.eval_every=0 ~data.eval adapter.init_lora_weights=false adapter.lora_alpha=256 output.dir="$scratch/lora" \
  >"$scratch/lora.log" 2>&1
rc=$?; out=$(cat "$scratch/lora.log"); err=""
expect_rc 0 "a random adapter"
run_fthost generate --model "$scratch/model" --adapter "$scratch/lora/final" --prompt "At the library" --max-new-tokens 12
expect_rc 0 "generate --adapter"
checks=$((checks + 1))
if [[ "$out" == "$greedy" ]]; then echo "FAIL: the adapter did not change the generated text"; failures=$((failures + 1)); fi

run_fthost generate --model "$scratch/model" --prompt "x" --top-p 0
expect_rc 2 "top-p 0"
expect_contains "$err" "fthost: error: command line: --top-p must be in (0, 1]" "top-p message"
run_fthost generate --model "$scratch/model"
expect_rc 2 "no prompt"
expect_contains "$err" "give exactly one of --prompt and --prompt-file" "prompt message"
run_fthost generate --model tests/fixtures/pipeline/model --prompt "x"
expect_rc 2 "a model without tokenizer.json"
expect_contains "$err" "tokenizer.json" "names the tokenizer file"

finish
