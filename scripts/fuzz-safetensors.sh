#!/usr/bin/env bash
# Fuzzes the safetensors header parser (fuzz/fuzz_safetensors.cpp) with libFuzzer.
#
#   scripts/fuzz-safetensors.sh [seconds]      # default 60
#
# Configures build/fuzz with clang (ASan + UBSan + libFuzzer; FTHOST_FUZZ_BUILD_DIR overrides),
# builds only the fuzz target, and runs it on a corpus seeded from tests/model/fixtures/. The
# corpus grows in build/fuzz/corpus/safetensors across runs; an input that crashes is saved in
# build/fuzz/crashes/ (rerun: build/fuzz/fuzz/fuzz_safetensors FILE) and the script exits non-zero.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FTHOST_FUZZ_BUILD_DIR:-$root/build/fuzz}"

if ! grep -Eq '^[[:space:]]*add_subdirectory\(fuzz\)' "$root/CMakeLists.txt"; then
  echo "fuzz-safetensors: $root/CMakeLists.txt does not include fuzz/; add the line: add_subdirectory(fuzz)" >&2
  exit 2
fi
if ! command -v clang++ >/dev/null; then
  echo "fuzz-safetensors: clang++ not found (libFuzzer comes with clang)" >&2
  exit 2
fi

# Tests, CUDA and the other targets are not needed: only the parser is fuzzed.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFTHOST_FUZZ=ON -DFTHOST_CUDA=OFF -DFTHOST_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_safetensors -j "${FTHOST_FUZZ_JOBS:-2}"

corpus="$build/corpus/safetensors"
mkdir -p "$corpus" "$build/crashes"
cp "$root"/tests/model/fixtures/* "$corpus"/

"$build/fuzz/fuzz_safetensors" "$corpus" \
  -max_total_time="$seconds" \
  -dict="$root/fuzz/safetensors.dict" \
  -artifact_prefix="$build/crashes/" \
  -print_final_stats=1
