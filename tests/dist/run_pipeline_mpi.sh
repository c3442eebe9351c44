#!/usr/bin/env bash
# `crosscoder run` under mpirun (issue 21): harvest and training stages split across the ranks, the
# other stages run on rank 0 alone while the rest wait. Against one process as reference:
#  1. -np 2 writes every file of the one-process run folder byte for byte (but the timings:
#     stages.json, summary.txt and the train logs' throughput field);
#  2. a rerun under -np 3 finds every stage up to date and changes nothing;
#  3. an error in a stage rank 0 runs alone (the report's assets missing) ends the job with one line
#     naming rank 0, no hang.
# Both runs use one thread per rank (--threads 1): the forward pass's bits follow OpenBLAS's
# thread count on some CPUs (docs/DISTRIBUTED.md).
# Usage: run_pipeline_mpi.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dist_test_setup "$1" "$2"
cd "$work"
mpi[1]=600
run=(run "$root/configs/organism.toml" --out run --quiet --threads 1
     --set calibration.enabled=false --set steering.enabled=false --set ablation.enabled=false --set geometry.enabled=false
     --set harvest.tokens=20000 --set analysis.tokens=10000 --set spliced_loss.sequences=4
     --set crosscoder.l1.dict_size=768 --set crosscoder.l1.tokens=20480
     --set crosscoder.batchtopk.dict_size=768 --set crosscoder.batchtopk.tokens=20480 --set crosscoder.batchtopk.dead_tokens=10240)

echo "== 1. -np 2 equals one process"
# The same --out for both (paths are recorded in the outputs), moved aside after each run.
"$bin" "${run[@]}" > one.txt 2>&1
mv run one
"${mpi[@]}" -np 2 "$bin" "${run[@]}" > np2.txt 2>&1
mv run np2
n=0
while IFS= read -r f; do
  case $f in
    stages.json | summary.txt) continue ;;
    */train_log.jsonl)
      cmp -s <(sed 's/"tokens_per_s":[^,}]*//' "one/$f") <(sed 's/"tokens_per_s":[^,}]*//' "np2/$f") ||
        { echo "FAIL: $f differs beyond tokens_per_s" >&2; exit 1; } ;;
    *) cmp -s "one/$f" "np2/$f" || { echo "FAIL: -np 2 wrote another $f" >&2; exit 1; } ;;
  esac
  n=$((n + 1))
done < <(cd one && find . -type f | sed 's|^\./||' | sort)
[[ $(cd one && find . -type f | sort) == "$(cd np2 && find . -type f | sort)" ]] || { echo "FAIL: the run folders hold different files" >&2; exit 1; }
(( n >= 20 )) || { echo "FAIL: only $n files compared" >&2; exit 1; }
for s in harvest train-l1 train-batchtopk spliced-loss-l1 analyze report; do
  grep -q "^\[run [0-9]/[0-9]\] $s: done" np2.txt || { echo "FAIL: -np 2 did not run $s" >&2; cat np2.txt >&2; exit 1; }
done
[[ $(grep -c "^\[run 1/7\] harvest: done" np2.txt) == 1 ]] || { echo "FAIL: stage lines printed by more than one rank" >&2; exit 1; }
echo "ok: -np 2 wrote the one-process run folder ($n files compared)"

echo "== 2. a rerun under -np 3 skips every stage"
cp -r np2 run
"${mpi[@]}" -np 3 "$bin" "${run[@]}" > np3.txt 2>&1
[[ $(grep -c ": up to date" np3.txt) == 7 ]] || { echo "FAIL: the rerun redid a stage" >&2; cat np3.txt >&2; exit 1; }
diff -r --exclude=summary.txt np2 run > /dev/null || { echo "FAIL: the rerun changed the run folder" >&2; exit 1; }
echo "ok: -np 3 rerun: 7 stages up to date, nothing changed"

echo "== 3. an error in a stage rank 0 runs alone ends the job"
mkdir -p noassets
set +e
"${mpi[@]}" -np 2 "$bin" "${run[@]}" --set "report.assets='$work/noassets'" > bad.txt 2>&1
rc=$?
set -e
[[ $rc != 0 && $rc != 124 ]] || { echo "FAIL: exit $rc (124: the job hung)" >&2; cat bad.txt >&2; exit 1; }
grep -E "^error: rank 0 of 2: .*noassets/.*is missing" bad.txt > /dev/null || { echo "FAIL: no one-line error naming rank 0:" >&2; cat bad.txt >&2; exit 1; }
echo "ok: missing report assets: exit $rc, $(grep -m1 '^error: rank' bad.txt)"
echo "all MPI run checks passed"
