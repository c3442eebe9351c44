#!/usr/bin/env bash
# Installs the Debian 12 packages crosscoder.cpp needs. Idempotent: when every package is already
# installed it touches nothing; otherwise it runs apt-get update, then a non-interactive install.
#   scripts/install-deps.sh          build + test dependencies (clang-14 + libclang-rt-14-dev: libFuzzer
#                                    for scripts/fuzz.sh; nodejs/npm: the HF tokenizers test oracle and
#                                    the report's charting library; chromium: the report's browser test)
#                                    libopenmpi-dev + openmpi-bin: the MPI build and its mpirun tests (docs/DISTRIBUTED.md)
#                                    pybind11-dev + python3-dev: the Python module; python3-pytest + python3-torch:
#                                    its tests (torch runs dictionary_learning's forward on an export)
#   scripts/install-deps.sh --bench  the same (python3-torch is also the PyTorch peer in bench/)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config git
      libopenblas-dev libdnnl-dev nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev
      libtomlplusplus-dev clang-14 libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy nodejs chromium
      libopenmpi-dev openmpi-bin libcurl4-openssl-dev pybind11-dev python3-dev python3-pytest python3-torch)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian ships it as its own package; NodeSource's nodejs bundles it (and conflicts with it).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
