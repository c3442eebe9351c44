#!/usr/bin/env bash
# Feature-parallel crosscoder training under mpirun (issue 21), against one process as reference:
#  1. L1 and BatchTopK, -np 2 and -np 3 (768 features = 3 blocks of 256: 2 ranks split them 2 + 1)
#     write the one-process checkpoint, trainer state and eval.json byte for byte, and the same
#     train_log.jsonl but for its throughput field; one thread equals two threads the same way;
#     so does a 20480-feature run, whose checkpoint reaches rank 0 in several pieces per rank;
#  2. SIGKILL of one rank mid-run ends the job; --resume with another number of ranks (3, then 1
#     after killing rank 0) ends byte-identical to the uninterrupted run;
#  3. a dictionary too small for the ranks, and a rank that cannot read --init while the other
#     waits for it, end the job with a one-line error naming the rank; neither may hang (timeout).
# Usage: run_train_mpi.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dist_test_setup "$1" "$2"
"$bin" harvest --base organism/base --distilled organism/distilled \
  --corpus "data/reasoning_traces/reasoning_traces.jsonl:question+trace@1#r1-distill" --corpus "data/general_text/text@1" \
  --held-out organism/split.json --seq-len 128 --batch-seqs 4 --shard-tokens 4096 --dtype bf16 --quiet \
  --tokens 20000 --out "$work/store" > /dev/null
train=(train --acts "$work/store" --dict-size 768 --batch-size 256 --save-every 20 --log-every 10 --buffer-rows 4096 --quiet)

# same_run REFERENCE CANDIDATE WHAT: every file byte-identical, the log's throughput aside.
same_run() {
  local f
  for f in "$1"/*; do
    f=$(basename "$f")
    if [[ $f == train_log.jsonl ]]; then
      cmp -s <(sed 's/"tokens_per_s":[^,}]*//' "$1/$f") <(sed 's/"tokens_per_s":[^,}]*//' "$2/$f") ||
        { echo "FAIL: $3: $2/$f differs from $1/$f beyond tokens_per_s" >&2; exit 1; }
    else
      cmp -s "$1/$f" "$2/$f" || { echo "FAIL: $3: $2/$f differs from $1/$f" >&2; exit 1; }
    fi
  done
  [[ $(ls "$1") == "$(ls "$2")" ]] || { echo "FAIL: $3: $2 holds other files than $1" >&2; exit 1; }
  echo "ok: $3"
}

echo "== 1. -np 2 and -np 3 equal one process; one thread equals two"
for arch in l1 batchtopk; do
  args=("${train[@]}" --arch "$arch" --k 16 --tokens 20000)
  "$bin" "${args[@]}" --out "$work/one-$arch" > /dev/null
  "$bin" "${args[@]}" --threads 1 --out "$work/thread1-$arch" > /dev/null
  same_run "$work/one-$arch" "$work/thread1-$arch" "$arch, 1 thread vs 2"
  for n in 2 3; do
    "${mpi[@]}" -np $n "$bin" "${args[@]}" --out "$work/np$n-$arch" > "$work/np$n-$arch.txt"
    same_run "$work/one-$arch" "$work/np$n-$arch" "$arch, -np $n"
    [[ $(grep -c "^trained " "$work/np$n-$arch.txt") == 1 ]] || { echo "FAIL: -np $n printed its summary more than once" >&2; exit 1; }
  done
done

# kill_mid_run OUT RANK: starts a -np 2 BatchTopK run of 300 steps, SIGKILLs RANK once a
# checkpoint is written.
long=("${train[@]}" --arch batchtopk --k 16 --tokens 76800)
kill_mid_run() {
  local out=$1 victim=$2
  "${mpi[@]}" -np 2 "$bin" "${long[@]}" --out "$out" > "$out.txt" 2>&1 &
  mid_run() { [[ -f $out/trainer_state.safetensors && ! -f $out/eval.json ]]; }
  kill_rank_when $! "$victim" "train .*--out $out( |$)" "$out" mid_run
  [[ ! -f $out/eval.json ]] || { echo "FAIL: the run in $out had finished before the kill; nothing was tested" >&2; exit 1; }
  echo "killed rank $victim (pid $killed_pid) after step $(tail -n1 "$out/train_log.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/') was logged"
}

# 20480 features: each rank's slice of W_enc is over the 16 MiB piece rank 0 receives at a time,
# and W_enc's transpose goes out in several blocks of rows.
big=("${train[@]/#768/20480}" --arch batchtopk --k 16 --tokens 20000 --steps 4)
"$bin" "${big[@]}" --out "$work/one-big" > /dev/null
"${mpi[@]}" -np 2 "$bin" "${big[@]}" --out "$work/np2-big" > /dev/null
same_run "$work/one-big" "$work/np2-big" "20480 features (streamed in several pieces), -np 2"

# The comparison can fail: another seed on -np 2 must differ from the one-process run.
"${mpi[@]}" -np 2 "$bin" "${train[@]}" --arch l1 --tokens 20000 --seed 50 --out "$work/seed50" > /dev/null
if (same_run "$work/one-l1" "$work/seed50" "seed 50" 2> /dev/null); then echo "FAIL: --seed 50 wrote the seed-49 run" >&2; exit 1; fi
echo "ok: --seed 50 differs from seed 49 (the check can fail)"

echo "== 2. SIGKILL of a rank, then --resume with another number of ranks"
"$bin" "${long[@]}" --out "$work/ref" > /dev/null
kill_mid_run "$work/kill1" 1
"${mpi[@]}" -np 3 "$bin" "${long[@]}" --out "$work/kill1" --resume > /dev/null
same_run "$work/ref" "$work/kill1" "rank 1 killed, resumed with -np 3"
kill_mid_run "$work/kill0" 0
"$bin" "${long[@]}" --out "$work/kill0" --resume > /dev/null
same_run "$work/ref" "$work/kill0" "rank 0 killed, resumed in one process"

echo "== 3. bad input ends the job with one line naming the rank"
expect_error() {  # LOG PATTERN WHAT (after a command whose exit status is in $rc)
  [[ $rc != 0 && $rc != 124 ]] || { echo "FAIL: $3 gave exit $rc (124: the job hung)" >&2; cat "$1" >&2; exit 1; }
  grep -E "$2" "$1" > /dev/null || { echo "FAIL: $3: no one-line error naming the rank:" >&2; cat "$1" >&2; exit 1; }
  echo "ok: $3: exit $rc, $(grep -m1 -E "$2" "$1")"
}
set +e
"${mpi[@]}" -np 4 "$bin" "${train[@]}" --tokens 20000 --out "$work/small" > "$work/small.txt" 2>&1
rc=$?
set -e
expect_error "$work/small.txt" "^error: rank [0-3] of 4: '--dict-size' is too small .* got 768" "768 features on 4 ranks"
mkdir -p "$work/broken"
cp "$work/one-l1/config.json" "$work/broken/"
head -c 1000 "$work/one-l1/crosscoder.safetensors" > "$work/broken/crosscoder.safetensors"
set +e
"${mpi[@]}" -np 1 "$bin" "${train[@]}" --tokens 20000 --init "$work/one-l1" --out "$work/bad" : \
  -np 1 "$bin" "${train[@]}" --tokens 20000 --init "$work/broken" --out "$work/bad" > "$work/bad.txt" 2>&1
rc=$?
set -e
expect_error "$work/bad.txt" "^error: rank 1 of 2: .*broken/crosscoder.safetensors" "a truncated --init on rank 1"
echo "all MPI training checks passed"
