#!/usr/bin/env bash
# Forward benchmark at Qwen2.5-1.5B's exact shape (28 layers, d 1536, 12/2 heads, MLP 8960,
# vocab 151936, tied, BF16 on disk): crosscoder.cpp in f32, bf16 and bf16-act next to PyTorch (Debian
# python3-torch) on the same safetensors, after checking both compute the same logits.
# Needs ~16 GiB RAM and ~4 GiB disk. Results: bench-out/forward.jsonl and a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
BUILD_DIR=build scripts/build.sh
OUT=${OUT:-bench-out}
M=$OUT/qwen2.5-1.5b-shape-1
mkdir -p "$OUT"
if [[ ! -f $M/config.json ]]; then
  build/crosscoder make-test-model --out "$M" --vocab 151936 --d-model 1536 --d-mlp 8960 --layers 28 \
    --heads 12 --kv-heads 2 --tied --rope-theta 10000 --max-pos 4096 --dtype BF16 --init-scale 1 --seed 1
fi
build/crosscoder forward --model "$M" --token-ids 1,2,3,4,5,6,7,8 --dump-logits "$OUT/check_logits.npy" >/dev/null
: > "$OUT/forward.jsonl"
for dt in f32 bf16; do
  /usr/bin/python3 bench/torch_qwen2.py --model "$M" --dtype "$dt" --check "$OUT/check_logits.npy" | tee -a "$OUT/forward.jsonl"
  build/bench/bench_forward --model "$M" --dtype "$dt" "$@" | tee -a "$OUT/forward.jsonl"
  /usr/bin/python3 bench/torch_qwen2.py --model "$M" --dtype "$dt" | tee -a "$OUT/forward.jsonl"
done
# bf16-act: BF16-rounded GEMM inputs like PyTorch's bf16 mode (its peer in the table), and the same
# mode with the sgemm fallback forced (what a CPU without AVX512-BF16 runs).
build/bench/bench_forward --model "$M" --dtype bf16-act "$@" | tee -a "$OUT/forward.jsonl"
CROSSCODER_BF16_GEMM=fallback build/bench/bench_forward --model "$M" --dtype bf16-act --skip-peak "$@" \
  | sed 's/"dtype":"bf16-act"/"dtype":"bf16-act (fallback forced)"/' | tee -a "$OUT/forward.jsonl"
/usr/bin/python3 bench/summarize_forward.py "$OUT/forward.jsonl"
