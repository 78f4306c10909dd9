#!/usr/bin/env bash
# Plugin discovery through FTHOST_PLUGIN_PATH, as a user drops libraries into a folder.
# usage: test_plugin_path.sh FTHOST BUILD_PLUGIN_DIR TEST_PLUGIN_ROOT
set -u
FTHOST=$1
build_plugins=$2
test_plugins=$3
source "$(dirname "$0")/assert.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# A third-party plugin in FTHOST_PLUGIN_PATH is listed beside the bundled ones.
mkdir -p "$scratch/extra"
cp "$test_plugins/good/libfthost-good.so" "$scratch/extra/"
FTHOST_PLUGIN_PATH="$scratch/extra" run_fthost plugins list
expect_rc 0 "list with an extra folder"
expect_contains "$out" "test_adapter" "extra plugin listed"
expect_contains "$out" "libfthost-lora.so" "bundled plugins still listed"
FTHOST_PLUGIN_PATH="$scratch/extra" run_fthost plugins describe test_adapter
expect_rc 0 "describe the extra plugin"
expect_contains "$out" "also accepted as: lora_alpha" "aliases are described"

# A plugin built for another SDK ABI is skipped with both numbers named, and listed as rejected.
mkdir -p "$scratch/old"
cp "$test_plugins/future_abi/libfthost-future_abi.so" "$scratch/old/libfthost-ia3.so"
FTHOST_PLUGIN_PATH="$scratch/old" run_fthost plugins list
expect_rc 0 "list with a rejected library"
expect_contains "$err" "was built for fthost SDK ABI 99.0, but this fthost provides ABI 3.0" "ABI warning"
expect_contains "$out" "rejected libraries:" "rejected section"
# ... and a pipeline naming it is told why it is not there.
FTHOST_PLUGIN_PATH="$scratch/old" run_fthost validate configs/quickstart.yaml adapter.plugin=ia3
expect_rc 3 "pipeline naming a rejected plugin"
expect_contains "$err" "no adapter plugin named 'ia3' is installed; plugin library '$scratch/old/libfthost-ia3.so' was built for fthost SDK ABI 99.0" "rejected reason in pipeline error"

# A library that is not a plugin.
mkdir -p "$scratch/foreign"
cp "$test_plugins/not_a_plugin/libfthost-not_a_plugin.so" "$scratch/foreign/"
FTHOST_PLUGIN_PATH="$scratch/foreign" run_fthost plugins list
expect_rc 0 "list with a foreign library"
expect_contains "$err" "is not an fthost plugin: it exports no 'fthost_plugin_entry'" "not-a-plugin warning"

# Two plugins with one name: an error naming both files.
mkdir -p "$scratch/dup"
cp "$build_plugins/libfthost-lora.so" "$scratch/dup/libfthost-lora.so"
FTHOST_PLUGIN_PATH="$scratch/dup" run_fthost plugins list
expect_rc 3 "duplicate plugin name"
expect_contains "$err" "two plugins are named 'lora': '$scratch/dup/libfthost-lora.so' and '$build_plugins/libfthost-lora.so'" "duplicate names both files"

# The current folder is never searched implicitly.
(cd "$scratch/extra" && run_fthost plugins list && [[ "$out" != *test_adapter* ]])
checks=$((checks + 1))
if [[ $? -ne 0 ]]; then echo "FAIL [cwd]: a plugin in the current folder was loaded"; failures=$((failures + 1)); fi

finish
