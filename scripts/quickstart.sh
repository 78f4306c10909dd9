#!/usr/bin/env bash
# The README's first command: installs dependencies, builds fthost (release) and runs the
# quickstart pipeline on CPU: the tiny Llama of models/tiny-llama (architecture + tokenizer) trained
# on the bundled text in data/quickstart, then an evaluation of the result.
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
# models/tiny-llama ships its architecture only (no trained weights yet): start from a seeded
# random initialisation, written as a Hugging Face folder.
model=build/quickstart/tiny-llama
echo; echo "\$ fthost init-model --config models/tiny-llama/config.json --out $model --seed 1"
$fthost init-model --config models/tiny-llama/config.json --out "$model" --seed 1
rm -rf build/quickstart/run  # a new run each time (an existing run folder is only continued with --resume)
echo; echo "\$ fthost run configs/quickstart.yaml model.path=../$model output.dir=../build/quickstart/run"
$fthost run configs/quickstart.yaml model.path="../$model" output.dir=../build/quickstart/run
echo; echo "\$ fthost eval --model build/quickstart/run/final --data data/quickstart/eval.txt"
$fthost eval --model build/quickstart/run/final --data data/quickstart/eval.txt --seq-len 128
