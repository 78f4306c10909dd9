#!/usr/bin/env bash
# A third party builds a plugin against the installed SDK alone and the already-built fthost
# uses it through FTHOST_PLUGIN_PATH: strategies swap without recompiling the host.
# usage: test_custom_plugin.sh BUILD_DIR SOURCE_DIR FTHOST
set -u
build_dir=$1
source_dir=$2
FTHOST=$3
source "$source_dir/tests/cli/assert.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if ! cmake --install "$build_dir" --prefix "$scratch/prefix" >"$scratch/install.log" 2>&1; then
  cat "$scratch/install.log"; echo "FAIL: cmake --install"; exit 1
fi
checks=$((checks + 1))
for file in include/fthost/sdk.hpp include/fthost/sdk/sdk_hash.hpp; do
  [[ -f "$scratch/prefix/$file" ]] || { echo "FAIL: $file not installed"; failures=$((failures + 1)); }
done

if ! cmake -S "$source_dir/examples/custom_plugin" -B "$scratch/example" -G Ninja \
     -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_BUILD_TYPE=Release >"$scratch/configure.log" 2>&1 ||
   ! cmake --build "$scratch/example" >"$scratch/build.log" 2>&1; then
  cat "$scratch/configure.log" "$scratch/build.log" 2>/dev/null; echo "FAIL: building the example plugin"; exit 1
fi
# The example's build must not have reached into the source tree's headers.
checks=$((checks + 1))
if grep -rq -- "-I$source_dir/sdk" "$scratch/example/build.ninja"; then
  echo "FAIL: example compiled against the source tree's SDK"; failures=$((failures + 1))
fi

FTHOST_PLUGIN_PATH="$scratch/example" run_fthost plugins describe ia3_example
expect_rc 0 "describe the out-of-tree plugin"
expect_contains "$out" "ia3_example 0.1.0  (adapter plugin)" "header"
expect_contains "$out" "feedforward_modules" "its options"
expect_contains "$out" "$scratch/example/libfthost-ia3_example.so" "its file"

FTHOST_PLUGIN_PATH="$scratch/example" run_fthost validate "$source_dir/configs/quickstart.yaml" adapter.plugin=ia3_example
expect_rc 4 "a pipeline can name the out-of-tree plugin"
expect_contains "$err" "ia3_example is an SDK example: it plans but does not train" "its own check ran"

# The installed fthost finds its installed plugins next to it, without FTHOST_PLUGIN_PATH.
(unset FTHOST_PLUGIN_PATH; FTHOST="$scratch/prefix/bin/fthost"; run_fthost plugins list; echo "$rc" >"$scratch/rc"; echo "$out" >"$scratch/out")
checks=$((checks + 1))
if [[ "$(cat "$scratch/rc")" != 0 ]] || ! grep -q "$scratch/prefix/.*/fthost/plugins/libfthost-lora.so" "$scratch/out"; then
  echo "FAIL: installed fthost does not find its installed plugins"; cat "$scratch/out"; failures=$((failures + 1))
fi

finish
