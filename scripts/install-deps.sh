#!/usr/bin/env bash
# Installs what fthost needs to build and test on Debian 12, from Debian's packages.
# Idempotent: does nothing (not even `apt-get update`) when everything is already there.
# The CUDA toolkit is not installed here: where nvcc is on PATH the CUDA backend is built too.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libboost-program-options-dev   # Boost.DLL (header-only) and Program_options
  libyaml-cpp-dev libspdlog-dev libfmt-dev doctest-dev nlohmann-json3-dev
  libdnnl-dev                                 # oneDNN: CPU GEMM
  clang libclang-rt-14-dev                    # the libFuzzer target (scripts/fuzz-safetensors.sh)
  libpcre2-dev libicu-dev                     # the tokenizer: Unicode regexes, normalization forms
  python3
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
