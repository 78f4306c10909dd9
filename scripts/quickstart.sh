#!/usr/bin/env bash
# The README's first command: installs dependencies, builds fthost (release) and runs the
# quickstart pipeline on CPU: the bundled tiny Llama (models/tiny-llama, pretrained by fthost on
# data/pretrain) fine-tuned on the bundled text in data/quickstart, then an evaluation and a
# generated sample before and after, which shows what the fine-tuning taught it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/fthost-ccache}"
# Paths relative to the clone, so a fresh clone elsewhere (CI) reuses the same cache entries.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
fthost=build/release/bin/fthost

echo; echo "\$ fthost plugins list"
$fthost plugins list
prompt="At the library,"
echo; echo "\$ fthost generate --model models/tiny-llama --prompt \"$prompt\" --temperature 0.7 --top-p 0.9   # before fine-tuning"
$fthost generate --model models/tiny-llama --prompt "$prompt" --max-new-tokens 40 --temperature 0.7 --top-p 0.9 --seed 1
rm -rf build/quickstart/run  # a new run each time (an existing run folder is only continued with --resume)
echo; echo "\$ fthost run configs/quickstart.yaml output.dir=../build/quickstart/run"
$fthost run configs/quickstart.yaml output.dir=../build/quickstart/run
echo; echo "\$ fthost eval --model build/quickstart/run/final --data data/quickstart/eval.txt"
$fthost eval --model build/quickstart/run/final --data data/quickstart/eval.txt --seq-len 128
echo; echo "\$ fthost generate --model build/quickstart/run/final --prompt \"$prompt\" --temperature 0.7 --top-p 0.9   # after"
$fthost generate --model build/quickstart/run/final --prompt "$prompt" --max-new-tokens 40 --temperature 0.7 --top-p 0.9 --seed 1
echo; echo "Open build/quickstart/run/report.html for the loss and learning-rate curves."
