#!/usr/bin/env bash
# Organism LM training step at the organism's default shape: TrainModel (ours) and PyTorch (Debian
# python3-torch, autograd + AdamW) in the same run, plus sgemm on the step's largest product.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
BUILD_DIR=build scripts/build.sh > /dev/null
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
build/bench/bench_lm_train "$@" | tee "$OUT/lm_train.jsonl"
/usr/bin/python3 bench/torch_lm_train.py | tee -a "$OUT/lm_train.jsonl"
/usr/bin/python3 - "$OUT/lm_train.jsonl" <<'PY'
import json, sys
ours, torch = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"ours {ours['tokens_per_s']:.0f} tok/s ({ours['gflops']:.1f} GFLOP/s, {ours['gflops'] / ours['sgemm_gflops_same_shape']:.0%} of "
      f"sgemm on {ours['sgemm_shape']} = {ours['sgemm_gflops_same_shape']:.1f} GFLOP/s); {torch['impl']} {torch['tokens_per_s']:.0f} tok/s; "
      f"ratio {ours['tokens_per_s'] / torch['tokens_per_s']:.2f}x")
PY
