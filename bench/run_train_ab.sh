#!/usr/bin/env bash
# A/B of the demo's two crosscoder recipes between two builds of the binary, on the same store, one
# run after the other under /usr/bin/time -v: wall, user and system seconds, minor page faults, and
# whether the two checkpoints are byte-identical. Run it on an otherwise idle machine; this VM's
# noise between runs of one binary is ~15% (docs/PERFORMANCE.md), so repeat before believing less.
#   bash bench/run_train_ab.sh OLD_BINARY NEW_BINARY [STORE] [l1|batchtopk|both]
# STORE defaults to the organism store bench/run_bf16_classes.sh harvests (bf16). ~10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: run_train_ab.sh OLD_BINARY NEW_BINARY [STORE] [l1|batchtopk|both]}
NEW=${2:?usage: run_train_ab.sh OLD_BINARY NEW_BINARY [STORE] [l1|batchtopk|both]}
STORE=${3:-${OUT:-bench-out}/bf16_classes/store-bf16}
ARCHS=${4:-both}
[[ -f $STORE/manifest.json ]] || { echo "run_train_ab.sh: $STORE: no activation store (run bench/run_bf16_classes.sh, or name one)" >&2; exit 1; }
OUT=${OUT:-bench-out}/train_ab
mkdir -p "$OUT"
[[ $ARCHS == both ]] && ARCHS="l1 batchtopk"
for arch in $ARCHS; do
  # The demo's recipes (configs/organism.toml).
  extra=(--l1-coeff 2 --tokens 2000000)
  [[ $arch == batchtopk ]] && extra=(--k 32 --tokens 1500000 --dead-tokens 1100000)
  for side in new old; do
    bin=$NEW; [[ $side == old ]] && bin=$OLD
    rm -rf "$OUT/$arch-$side"
    /usr/bin/time -v "$bin" train --acts "$STORE" --out "$OUT/$arch-$side" --arch "$arch" --dict-size 4096 --lr 1e-3 \
      --batch-size 1024 --buffer-rows 65536 --save-every 500 --seed 1 "${extra[@]}" --quiet > "$OUT/$arch-$side.out" 2> "$OUT/$arch-$side.time"
    echo "$arch $side: $(grep -E 'Elapsed|User time|System time|Minor' "$OUT/$arch-$side.time" | awk -F': ' '{printf "%s; ", $2}')$(grep -o '([0-9]* tok/s)' "$OUT/$arch-$side.out")"
  done
  if cmp -s "$OUT/$arch-old/crosscoder.safetensors" "$OUT/$arch-new/crosscoder.safetensors"; then
    echo "$arch: checkpoints byte-identical"
  else
    echo "$arch: checkpoints differ"
  fi
done
