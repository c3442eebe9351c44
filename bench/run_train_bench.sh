#!/usr/bin/env bash
# Crosscoder step benchmark at d 1536, F 32768, batch 4096: sparse trainer, dense reference and
# PyTorch (Debian python3-torch), both architectures, same run. Needs ~12 GiB RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
BUILD_DIR=build scripts/build.sh
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
build/bench/bench_train "$@" | tee "$OUT/train.jsonl"
/usr/bin/python3 bench/torch_crosscoder.py | tee -a "$OUT/train.jsonl"
