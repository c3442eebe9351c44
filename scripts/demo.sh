#!/usr/bin/env bash
# The main job. Until the model organism and the full pipeline land (issues 10, 11), this runs
# the most complete pipeline that exists: build, write a random Qwen2 checkpoint in HF layout,
# run a forward pass dumping logits and the half-depth residual stream, and generate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh
OUT=${1:-demo-out}
mkdir -p "$OUT"
bin=build/crosscoder
$bin make-test-model --out "$OUT/model" --vocab 2048 --d-model 256 --d-mlp 704 --layers 8 --heads 8 --kv-heads 2 --eos 2047 --seed 1
$bin forward --model "$OUT/model" --token-ids 1,20,300,4000 --dump-logits "$OUT/logits.npy" --dump-resid "blocks.4.hook_resid_pre:$OUT/resid4.npy"
$bin generate --model "$OUT/model" --token-ids 1,20,300 --max-new-tokens 16 --temperature 0.7 --seed 1
echo "demo: outputs in $OUT/ (logits.npy [4, 2048], resid4.npy [4, 256])"
