#!/usr/bin/env bash
# `crosscoder run` under mpirun (issue 21): harvest, training, analysis, ablation, steering and
# geometry split across the ranks, the other stages run on rank 0 alone while the rest wait.
# Against one process as reference:
#  1. -np 2 writes every file of the one-process run folder byte for byte (but the timings:
#     stages.json, summary.txt, the train logs' throughput, the steering runs' seconds and rate);
#  2. with the analysis, ablation, steering and geometry records and outputs removed, -np 3 redoes
#     them (uneven splits) to the same files and skips the rest; a rerun then skips everything;
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
     --set calibration.enabled=false --set enrichment.enabled=false
     --set ablation.sequences=8 --set ablation.seq_len=64 --set ablation.positions=6 --set ablation.rank_positions=24 --set "ablation.k=[5, 20]"
     --set steering.problems=2 --set steering.max_new_tokens=12 --set geometry.bootstrap=20
     --set harvest.tokens=20000 --set analysis.tokens=10000 --set spliced_loss.sequences=4
     --set crosscoder.l1.dict_size=768 --set crosscoder.l1.tokens=20480
     --set crosscoder.batchtopk.dict_size=768 --set crosscoder.batchtopk.tokens=20480 --set crosscoder.batchtopk.dead_tokens=10240)

# same_run_folder A B: every file of run folder A is in B with the same bytes, but the timings
# (stages.json, summary.txt, the throughput fields of the train logs, the steering runs' seconds, rate
# and tokens generated in this session); both hold the same files. Sets n (files compared).
same_run_folder() {
  local f timeless='s/"\(tokens_per_s\|seconds\|generation_tokens_per_s\|generated_tokens_this_session\)": *[^,}]*//g'
  n=0
  while IFS= read -r f; do
    case $f in
      stages.json | summary.txt) continue ;;
      */train_log.jsonl | steer/transcripts.jsonl | steer/steer.json | report.html)
        cmp -s <(sed "$timeless" "$1/$f") <(sed "$timeless" "$2/$f") || { echo "FAIL: $2/$f differs beyond its timings" >&2; exit 1; } ;;
      *) cmp -s "$1/$f" "$2/$f" || { echo "FAIL: $2/$f differs from $1/$f" >&2; exit 1; } ;;
    esac
    n=$((n + 1))
  done < <(cd "$1" && find . -type f | sed 's|^\./||' | sort)
  [[ $(cd "$1" && find . -type f | sort) == "$(cd "$2" && find . -type f | sort)" ]] || { echo "FAIL: $1 and $2 hold different files" >&2; exit 1; }
}

echo "== 1. -np 2 equals one process"
# The same --out for both (paths are recorded in the outputs), moved aside after each run.
"$bin" "${run[@]}" > one.txt 2>&1
mv run one
"${mpi[@]}" -np 2 "$bin" "${run[@]}" > np2.txt 2>&1
mv run np2
same_run_folder one np2
(( n >= 28 )) || { echo "FAIL: only $n files compared" >&2; exit 1; }
for s in harvest train-l1 train-batchtopk spliced-loss-l1 analyze ablate steer geometry report; do
  grep -Eq "^\[run [0-9]+/[0-9]+\] $s: done" np2.txt || { echo "FAIL: -np 2 did not run $s" >&2; cat np2.txt >&2; exit 1; }
done
[[ $(grep -c "^\[run 1/10\] harvest: done" np2.txt) == 1 ]] || { echo "FAIL: stage lines printed by more than one rank" >&2; exit 1; }
echo "ok: -np 2 wrote the one-process run folder ($n files compared)"

echo "== 2. -np 3 redoes analysis, ablation, steering and geometry (uneven splits) to the same files"
# Their records and outputs removed, the rerun redoes them (and the report) and skips the rest; the
# steering sweep is left as if killed after its first 3 runs, so -np 3 resumes it.
cp -r np2 run
python3 -c 'import json, sys
p = sys.argv[1]; j = json.load(open(p))
for s in ("analyze", "ablate", "geometry", "report"): del j[s]
j["steer"] = {k: j["steer"][k] for k in ("fingerprint", "settings")} | {"state": "started"}
json.dump(j, open(p, "w"))' run/stages.json
rm -rf run/analysis run/ablation run/geometry run/report.html run/steer/steer.json run/steer/steer.csv
head -n 3 np2/steer/transcripts.jsonl > run/steer/transcripts.jsonl
"${mpi[@]}" -np 3 "$bin" "${run[@]}" > np3.txt 2>&1
[[ $(grep -c ": up to date" np3.txt) == 5 ]] || { echo "FAIL: the rerun did not skip exactly the 5 other stages" >&2; cat np3.txt >&2; exit 1; }
grep -Eq "^\[run [0-9]+/[0-9]+\] steer: resum" np3.txt || { echo "FAIL: the steering sweep was not resumed" >&2; cat np3.txt >&2; exit 1; }
same_run_folder one run
echo "ok: -np 3 redid 4 stages, resumed the sweep, and wrote the one-process files ($n compared)"
"${mpi[@]}" -np 2 "$bin" "${run[@]}" > again.txt 2>&1
[[ $(grep -c ": up to date" again.txt) == 10 ]] || { echo "FAIL: a second rerun redid a stage" >&2; cat again.txt >&2; exit 1; }
echo "ok: -np 2 rerun: 10 stages up to date"

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
