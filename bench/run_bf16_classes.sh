#!/usr/bin/env bash
# Do NRN classes change when the store is harvested in the bf16-act compute mode? The organism pair
# is harvested twice (bf16: exact products; bf16-act), an L1 crosscoder with the demo's recipe is
# trained on each with the same seed, and each feature's class is compared. Control: the bf16
# store trained with a second seed (class counts move this much from the seed alone; feature
# indices do not correspond across seeds, so only counts are compared there).
# Prints JSON lines; ~8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build scripts/build.sh >/dev/null
OUT=${OUT:-bench-out}/bf16_classes
mkdir -p "$OUT"
CC=build/crosscoder
CORPORA=(--corpus "data/reasoning_traces/reasoning_traces.jsonl:question+trace@1#r1-distill" --corpus "data/general_text/text@1")
for mode in bf16 bf16-act; do
  [[ -f $OUT/store-$mode/manifest.json ]] || $CC harvest --base organism/base --distilled organism/distilled "${CORPORA[@]}" \
    --tokens 300000 --seq-len 256 --batch-seqs 8 --shard-tokens 65536 --held-out organism/split.json --dtype $mode \
    --out "$OUT/store-$mode" --quiet
done
train() {  # store-mode seed
  [[ -f $OUT/l1-$1-seed$2/crosscoder.safetensors ]] || $CC train --acts "$OUT/store-$1" --out "$OUT/l1-$1-seed$2" --arch l1 \
    --dict-size 4096 --l1-coeff 2 --lr 1e-3 --batch-size 1024 --tokens 2000000 --buffer-rows 65536 --seed $2 --quiet
  [[ -f $OUT/an-$1-seed$2/features.jsonl ]] || $CC analyze --crosscoder "$OUT/l1-$1-seed$2" --acts "$OUT/store-$1" \
    --out "$OUT/an-$1-seed$2" --tokens 150000 --quiet >/dev/null
}
train bf16 1; train bf16-act 1; train bf16 2
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys, collections
out = sys.argv[1]
def classes(name):
    return {j["feature"]: j["class"] for j in map(json.loads, open(f"{out}/{name}/features.jsonl"))}
a, b, c = classes("an-bf16-seed1"), classes("an-bf16-act-seed1"), classes("an-bf16-seed2")
same = sum(a[f] == b[f] for f in a)
changed = collections.Counter(f"{a[f]}->{b[f]}" for f in a if a[f] != b[f])
print(json.dumps({"features": len(a), "same_class_bf16_vs_bf16act_same_seed": same, "rate_changed": 1 - same / len(a),
                  "changes": dict(changed.most_common())}))
for name, d in (("bf16 seed 1", a), ("bf16-act seed 1", b), ("bf16 seed 2 (control)", c)):
    print(json.dumps({"run": name, "class_counts": dict(sorted(collections.Counter(d.values()).items()))}))
PY
