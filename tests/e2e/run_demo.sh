#!/usr/bin/env bash
# End to end: `crosscoder demo` on the committed organism with a reduced budget, then
#  1. every stage's outputs are checked (check_run.py) and the report passes the browser check;
#  2. a re-run does nothing (all stages up to date);
#  3. a run killed (SIGKILL) inside a stage, then re-run, finishes without redoing earlier stages;
#  4. --until stops after the named stage, and changing one setting redoes that stage and its dependants only;
#  5. editing the lexicon file redoes what reads it;
#  6. each output JSON, corrupted, gives one-line errors (tests/fault/corrupt_outputs.py).
# Usage: run_demo.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
small=(--quiet --set harvest.tokens=30000 --set harvest.shard_tokens=8192 --set crosscoder.l1.tokens=400000
       --set crosscoder.batchtopk.tokens=400000 --set crosscoder.l1.save_every=50 --set crosscoder.batchtopk.save_every=50
       --set crosscoder.l1.dict_size=1024 --set crosscoder.batchtopk.dict_size=1024
       --set analysis.tokens=20000 --set spliced_loss.sequences=8 --set ablation.sequences=24 --set ablation.positions=10 --set ablation.rank_positions=60
       --set 'ablation.k=[5,20]' --set steering.problems=1 --set steering.samples=0 --set steering.max_new_tokens=24
       --set 'steering.alphas=[0,8]' --set 'geometry.tasks=["antonym","country-capital"]' --set geometry.bootstrap=50
       --set calibration.tokens=20000 --set calibration.sequences=32 --set calibration.crosscoder.l1.dict_size=256
       --set calibration.crosscoder.l1.tokens=40000 --set calibration.crosscoder.batchtopk.dict_size=256
       --set calibration.crosscoder.batchtopk.tokens=40000 --set enrichment.max_traces=8 --set enrichment.permutations=500)

echo "== 1. a reduced demo"
"$bin" demo --out "$work/run" "${small[@]}" > "$work/first.txt"
cat "$work/first.txt"
python3 "$here/check_run.py" "$work/run" 0.5 2 2
node "$root/tests/report/check_report.js" "$work/run/report.html" "$work/report.png" \
  training-crosscoder-l1,training-crosscoder-batchtopk,nrn-histogram,cosine-histogram,ablation-curves,steering-plot,geometry-loss

echo "== 2. a re-run redoes nothing"
cp "$work/run/stages.json" "$work/stages-before.json"
"$bin" demo --out "$work/run" "${small[@]}" 2> "$work/second.err" > /dev/null
n_skipped=$(grep -c "up to date" "$work/second.err" || true)
[[ $n_skipped == 12 ]] || { cat "$work/second.err"; echo "expected 12 skipped stages, got $n_skipped"; exit 1; }
cmp "$work/run/stages.json" "$work/stages-before.json" || { echo "stages.json changed on a no-op re-run"; exit 1; }

echo "== 3. killed inside a stage, then re-run"
rm -rf "$work/kill"
"$bin" demo --out "$work/kill" "${small[@]}" --set crosscoder.batchtopk.tokens=3000000 > /dev/null 2> "$work/kill.err" &
pid=$!
# Kill once the batchtopk training has written a checkpoint. The earlier stages (calibration,
# harvest, train-l1) take 2-3 minutes on a 2-core machine, so the wait is bounded only by the
# test's own timeout; a fixed 120 s wait once killed the run inside harvest on a slow machine.
ckpt="$work/kill/crosscoder-batchtopk/trainer_state.safetensors"
while [[ ! -f $ckpt ]]; do
  kill -0 $pid 2> /dev/null || { cat "$work/kill.err"; echo "the run ended before train-batchtopk wrote a checkpoint"; exit 1; }
  sleep 0.1
done
kill -9 $pid 2> /dev/null || { echo "the run finished before it could be killed"; exit 1; }
wait $pid 2> /dev/null || true
"$bin" demo --out "$work/kill" "${small[@]}" --set crosscoder.batchtopk.tokens=3000000 > /dev/null 2> "$work/rerun.err"
for s in harvest train-l1; do
  grep -q "\] $s: up to date" "$work/rerun.err" || { cat "$work/rerun.err"; echo "$s was redone after the kill"; exit 1; }
done
grep -q "\] train-batchtopk: resuming the interrupted stage" "$work/rerun.err" || { cat "$work/rerun.err"; echo "training did not resume"; exit 1; }
python3 "$here/check_run.py" "$work/kill" 0.5 2 2

echo "== 4. --until, and a changed setting redoes only what depends on it"
"$bin" demo --out "$work/run" "${small[@]}" --set 'steering.alphas=[0,16]' --until steer 2> "$work/until.err" > /dev/null
for s in harvest train-l1 train-batchtopk spliced-loss-l1 spliced-loss-batchtopk analyze ablate; do
  grep -q "\] $s: up to date" "$work/until.err" || { cat "$work/until.err"; echo "$s was redone for a steering change"; exit 1; }
done
grep -q "\] steer: running" "$work/until.err" || { cat "$work/until.err"; echo "steer was not redone"; exit 1; }
if grep -q "\] geometry" "$work/until.err"; then echo "--until steer ran past steer"; exit 1; fi

echo "== 5. editing the lexicon file (a resolved default path, not a setting) redoes what reads it"
cp "$root/configs/reasoning_lexicon.toml" "$work/lexicon.toml"
"$bin" demo --out "$work/run" "${small[@]}" --set "run.lexicon=\"$work/lexicon.toml\"" --set 'steering.alphas=[0,16]' \
  2> "$work/lex1.err" > /dev/null
printf '\n# edited by run_demo.sh\n' >> "$work/lexicon.toml"
"$bin" demo --out "$work/run" "${small[@]}" --set "run.lexicon=\"$work/lexicon.toml\"" --set 'steering.alphas=[0,16]' \
  2> "$work/lex2.err" > /dev/null
for s in harvest train-l1 train-batchtopk spliced-loss-l1 spliced-loss-batchtopk geometry; do
  grep -q "\] $s: up to date" "$work/lex2.err" || { cat "$work/lex2.err"; echo "$s was redone for a lexicon edit"; exit 1; }
done
for s in analyze ablate steer; do
  grep -q "\] $s: running" "$work/lex2.err" || { cat "$work/lex2.err"; echo "$s was not redone after the lexicon changed"; exit 1; }
done
echo "== 6. every output file, corrupted, gives the report and the run summary a one-line error naming it"
python3 "$root/tests/fault/corrupt_outputs.py" "$bin" "$work/run" "$root/configs/organism.toml" "${small[@]}" \
  --set "run.lexicon=\"$work/lexicon.toml\"" --set 'steering.alphas=[0,16]'
echo "run_demo: all checks passed"
