#!/usr/bin/env bash
# Data-parallel harvest under mpirun (issue 21), against the one-process store as reference:
#  1. -np 2 and -np 3 (an uneven split of the batches) write the one-process store byte for byte;
#  2. SIGKILL of one rank mid-run ends the job; --resume with another number of ranks (3, then 1
#     after killing rank 0) ends byte-identical to the uninterrupted store;
#  3. a rank that cannot read the model while the other waits for it (mpirun's MPMD form gives the
#     two ranks different --base) ends the job with a one-line error naming rank and file; a
#     command that does not split its work is refused. Neither may hang (timeout).
# Every run, ranks and reference alike, uses one BLAS thread: on some CPUs OpenBLAS's sums depend on
# its thread count (an AMD EPYC's 1- and 2-thread stores differ in the last bits; an Intel Xeon's
# do not), so "equals one process" means with the threads per rank the ranks had.
# Usage: run_harvest_mpi.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dist_test_setup "$1" "$2"
harvest=(harvest --distilled organism/distilled
         --corpus "data/reasoning_traces/reasoning_traces.jsonl:question+trace@1#r1-distill" --corpus "data/general_text/text@1"
         --held-out organism/split.json --seq-len 128 --batch-seqs 4 --shard-tokens 4096 --dtype bf16 --quiet --threads 1
         --base organism/base)

same_store() {  # REFERENCE CANDIDATE WHAT
  if diff -r "$1" "$2" > /dev/null; then echo "ok: $3"; else echo "FAIL: $3: $2 differs from $1" >&2; diff -rq "$1" "$2" >&2 || true; exit 1; fi
}

echo "== 1. -np 2 and -np 3 equal one process"
"$bin" "${harvest[@]}" --tokens 20000 --out "$work/one" > /dev/null
for n in 2 3; do
  "${mpi[@]}" -np $n "$bin" "${harvest[@]}" --tokens 20000 --out "$work/np$n" > "$work/np$n.txt"
  same_store "$work/one" "$work/np$n" "-np $n store"
  [[ $(grep -c "^store " "$work/np$n.txt") == 1 ]] || { echo "FAIL: -np $n printed its summary more than once" >&2; exit 1; }
done

# kill_mid_run OUT RANK: starts -np 2 on 120k tokens, SIGKILLs RANK once two shards are listed.
kill_mid_run() {
  local out=$1 victim=$2
  "${mpi[@]}" -np 2 "$bin" "${harvest[@]}" --tokens 120000 --out "$out" > "$out.txt" 2>&1 &
  mid_run() { [[ -f $out/manifest.json ]] && python3 -c "import json,sys; m=json.load(open(sys.argv[1])); sys.exit(0 if len(m['shards'])>=2 and not m['complete'] else 1)" "$out/manifest.json" 2>/dev/null; }
  kill_rank_when $! "$victim" "harvest .*--out $out( |$)" "$out" mid_run
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); sys.exit(1 if m['complete'] else 0)" "$out/manifest.json" ||
    { echo "FAIL: the store in $out was complete before the kill; nothing was tested" >&2; exit 1; }
  echo "killed rank $victim (pid $killed_pid) with $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['shards']))" "$out/manifest.json") shards written"
}

echo "== 2. SIGKILL of a rank, then --resume with another number of ranks"
"$bin" "${harvest[@]}" --tokens 120000 --out "$work/ref" > /dev/null
kill_mid_run "$work/kill1" 1
"${mpi[@]}" -np 3 "$bin" "${harvest[@]}" --tokens 120000 --out "$work/kill1" --resume > /dev/null
same_store "$work/ref" "$work/kill1" "rank 1 killed, resumed with -np 3"
kill_mid_run "$work/kill0" 0
"$bin" "${harvest[@]}" --tokens 120000 --out "$work/kill0" --resume > /dev/null
same_store "$work/ref" "$work/kill0" "rank 0 killed, resumed in one process"

echo "== 3. bad input ends the job with one line naming rank and file; other commands are refused"
mkdir -p "$work/broken"
cp organism/base/* "$work/broken/" 2>/dev/null || true
echo '{"architectures": [' > "$work/broken/config.json"
set +e
"${mpi[@]}" -np 1 "$bin" "${harvest[@]}" --tokens 20000 --out "$work/bad" : \
  -np 1 "$bin" "${harvest[@]:0:${#harvest[@]}-2}" --base "$work/broken" --tokens 20000 --out "$work/bad" > "$work/bad.txt" 2>&1
rc=$?
set -e
[[ $rc != 0 && $rc != 124 ]] || { echo "FAIL: a broken model gave exit $rc (124: the job hung)" >&2; exit 1; }
grep -E "^error: rank 1 of 2: .*broken/config.json" "$work/bad.txt" > /dev/null ||
  { echo "FAIL: no one-line error naming the rank and the file:" >&2; cat "$work/bad.txt" >&2; exit 1; }
echo "ok: broken model: exit $rc, $(grep -m1 '^error: rank' "$work/bad.txt")"
set +e
"${mpi[@]}" -np 2 "$bin" spliced-loss --help > "$work/refused.txt" 2>&1
rc=$?
set -e
[[ $rc != 0 && $rc != 124 ]] && grep -q "^error: .spliced-loss. does not run under mpirun" "$work/refused.txt" ||
  { echo "FAIL: spliced-loss under mpirun was not refused (exit $rc):" >&2; cat "$work/refused.txt" >&2; exit 1; }
echo "ok: spliced-loss under mpirun refused"
echo "all MPI harvest checks passed"
