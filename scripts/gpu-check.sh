#!/usr/bin/env bash
# One prepared GPU check for a machine with an NVIDIA GPU: builds with the CUDA backend required,
# runs every test labelled gpu (and the CPU suite, which is quick) and the GPU benchmark when one
# exists, then prints one summary. Budget: under 8 minutes on one H100.
# usage: scripts/gpu-check.sh            (from the repository root)
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
summary=()

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L failed)"; exit 2
fi
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
summary+=("device: $gpu")

# Configure for this GPU's architecture only: it halves compile time on the device's clock.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
if ! cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFTHOST_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$arch" >build-gpu-configure.log 2>&1; then
  tail -20 build-gpu-configure.log; echo "gpu-check: configure FAILED"; exit 1
fi
if ! cmake --build build/gpu -j "$(nproc)" >build-gpu-build.log 2>&1; then
  grep -E 'error|FAILED' build-gpu-build.log | head -30; echo "gpu-check: build FAILED"; exit 1
fi
summary+=("build: ok (sm_$arch) in $(( $(date +%s) - start )) s")

ctest --test-dir build/gpu -L gpu --output-on-failure --timeout 300 >gpu-tests.log 2>&1
gpu_status=$?
tail -25 gpu-tests.log
gpu_line=$(grep -E 'tests passed|tests failed' gpu-tests.log | tail -1)
summary+=("gpu tests: ${gpu_line:-none ran}")
skipped=$(grep -c '(Skipped)' gpu-tests.log || true)
[[ "$skipped" -gt 0 ]] && summary+=("WARNING: $skipped gpu test(s) skipped on a GPU machine")

ctest --test-dir build/gpu -LE 'gpu|slow' -j "$(nproc)" --timeout 300 >cpu-tests.log 2>&1
cpu_status=$?
summary+=("cpu tests: $(grep -E 'tests passed|tests failed' cpu-tests.log | tail -1)")

if [[ -x build/gpu/bin/fthost-bench-gpu ]]; then
  build/gpu/bin/fthost-bench-gpu 2>&1 | tee gpu-bench.log | tail -20
  summary+=("benchmark: see gpu-bench.log")
else
  summary+=("benchmark: none built yet (bench/ has no GPU benchmark in this version)")
fi

echo
echo "===== gpu-check summary ($(( $(date +%s) - start )) s) ====="
printf '%s\n' "${summary[@]}"
[[ $gpu_status -eq 0 && $cpu_status -eq 0 && "$skipped" -eq 0 ]]
