#!/usr/bin/env bash
# One prepared GPU check for a machine with an NVIDIA GPU: builds with the CUDA backend required
# (for this GPU's architecture only), runs every test labelled gpu (each CUDA op against the CPU
# backend; the whole model against PyTorch's numbers and the CPU), then the GPU benchmark (a ~1.1B
# Llama at sequence 2048: full fine-tuning and LoRA r=16, beside PyTorch when the machine's Python
# has torch + transformers + peft), then the CPU suite if time is left. Prints one summary.
# Budget: under 8 minutes on one H100 (each stage has its own time limit).
# usage: scripts/gpu-check.sh            (from the repository root)
#   FTHOST_GPU_CHECK_SKIP_BENCH=1   tests only
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
summary=()
mkdir -p build
logs=build/gpu-check
mkdir -p "$logs"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L failed)"; exit 2
fi
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
summary+=("device: $gpu")

arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if ! cmake -S . -B build/gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFTHOST_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$logs/configure.log" 2>&1; then
  tail -20 "$logs/configure.log"; echo "gpu-check: configure FAILED"; exit 1
fi
# The GPU tests and the benchmark first; the rest of the tree (CPU tests) after them.
gpu_targets=(fthost test_cuda_device test_device_parity test_device_model fthost-bench-train)
if ! timeout 300 cmake --build build/gpu -j "$(nproc)" --target "${gpu_targets[@]}" >"$logs/build.log" 2>&1; then
  grep -E 'error|FAILED' "$logs/build.log" | head -30; echo "gpu-check: build FAILED after $(elapsed) s"; exit 1
fi
summary+=("build: ok (sm_$arch) in $(elapsed) s")

ctest --test-dir build/gpu -L gpu --output-on-failure --timeout 180 >"$logs/gpu-tests.log" 2>&1
gpu_status=$?
grep -E '^\s*[0-9]+/[0-9]+ Test|tests passed|tests failed|FAILED|ERROR|CHECK|REQUIRE' "$logs/gpu-tests.log" | head -60
gpu_line=$(grep -E 'tests passed|tests failed' "$logs/gpu-tests.log" | tail -1)
summary+=("gpu tests: ${gpu_line:-none ran} ($(elapsed) s)")
skipped=$(grep -c '(Skipped)' "$logs/gpu-tests.log" || true)
[[ "$skipped" -gt 0 ]] && summary+=("WARNING: $skipped gpu test(s) skipped on a GPU machine")

if [[ "${FTHOST_GPU_CHECK_SKIP_BENCH:-0}" != 1 ]]; then
  bench=build/gpu/bin/fthost-bench-train
  for run in "--bf16" "--bf16 --lora 16"; do
    # shellcheck disable=SC2086
    if timeout 150 "$bench" --backend cuda --model 1b --batch 1 --seq 2048 --steps 3 $run >"$logs/bench.log" 2>&1; then
      summary+=("benchmark 1b seq 2048 $run:")
      while IFS= read -r line; do summary+=("  $line"); done < <(grep -E 'fthost-bench|fthost |pytorch|step ' "$logs/bench.log")
    else
      summary+=("benchmark $run: FAILED or timed out after $(elapsed) s: $(tail -2 "$logs/bench.log" | tr '\n' ' ')")
    fi
    cat "$logs/bench.log"
  done
fi

cpu_line="not run (out of time)"
cpu_status=0
if [[ $(elapsed) -lt 330 ]]; then
  if timeout $(( 450 - $(elapsed) )) cmake --build build/gpu -j "$(nproc)" >"$logs/build-all.log" 2>&1; then
    ctest --test-dir build/gpu -LE 'gpu|slow' -j "$(nproc)" --timeout 120 >"$logs/cpu-tests.log" 2>&1
    cpu_status=$?
    cpu_line=$(grep -E 'tests passed|tests failed' "$logs/cpu-tests.log" | tail -1)
  else
    cpu_line="build of the remaining targets did not finish"
  fi
fi
summary+=("cpu tests: $cpu_line")

echo
echo "===== gpu-check summary ($(elapsed) s) ====="
printf '%s\n' "${summary[@]}"
[[ $gpu_status -eq 0 && $cpu_status -eq 0 && "$skipped" -eq 0 ]]
