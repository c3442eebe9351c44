#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (clang, ASan + UBSan, coverage-guided).
#   scripts/fuzz.sh [SECONDS] [TARGET ...]     default: 30 s each, every target in fuzz/targets/
# Builds build-fuzz/ with clang++-14, cuts seed corpora from real files (fuzz/make_seeds.sh), then
# runs the targets FUZZ_JOBS at a time (default: nproc), each single-threaded for SECONDS with a
# 10 s per-input timeout and a 2 GiB memory limit: a crash, a sanitizer report, an uncaught
# exception other than cc::Error, a hang or an allocation past the limit is a finding. Inputs that
# reach new coverage accumulate in build-fuzz/corpus/<t> across runs. Prints a table of executions
# and coverage (also build-fuzz/fuzz-summary.md); exits 1 if any target found something, naming
# the input to copy into fuzz/regressions/<t>/ (replayed by ctest in every build afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  for f in fuzz/targets/*.cpp; do TARGETS+=("$(basename "$f" .cpp)"); done
fi
JOBS=${FUZZ_JOBS:-$(nproc)}
B=$PWD/build-fuzz  # absolute: the checkpoint target changes directory

scripts/install-deps.sh
# Only the fuzz targets (and the library under them) are built here; warnings are the GCC builds' job.
{ cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSCODER_FUZZ=ON \
    -DCROSSCODER_TESTS=OFF -DCROSSCODER_BENCH=OFF -DCROSSCODER_WERROR=OFF &&
  cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${TARGETS[@]}"); } > build-fuzz.build.log 2>&1 \
  || { tail -n 60 build-fuzz.build.log; exit 1; }
rm -rf "$B/seeds"
OPENBLAS_NUM_THREADS=1 fuzz/make_seeds.sh "$B/fuzz" "$B/seeds" > /dev/null

run_one() {
  local t=$1 secs=$2 b=$3
  mkdir -p "$b/corpus/$t" "$b/crashes/$t"
  local committed=()
  [[ -d fuzz/corpus/$t ]] && committed+=("$PWD/fuzz/corpus/$t")
  [[ -d fuzz/regressions/$t ]] && committed+=("$PWD/fuzz/regressions/$t")
  OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$b/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$b/crashes/$t/" \
      "$b/corpus/$t" "$b/seeds/$t" "${committed[@]}" > "$b/logs/$t.log" 2>&1
  echo "$t rc=$?" > "$b/logs/$t.rc"
}
export -f run_one
rm -rf "$B/logs" "$B/crashes"  # findings are per run; kept inputs live in $B/corpus
mkdir -p "$B/logs"
printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c "run_one {} $SECONDS_EACH $B || true"

status=0
summary=$B/fuzz-summary.md
{
  echo "| target | seconds | executions | exec/s | coverage (edges) | features | corpus | result |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  for t in "${TARGETS[@]}"; do
    log=$B/logs/$t.log
    execs=$(awk '/^stat::number_of_executed_units:/ {v = $2} END {print v}' "$log")
    eps=$(awk '/^stat::average_exec_per_sec:/ {v = $2} END {print v}' "$log")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n1 | awk '{print $2}')
    ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -n1 | awk '{print $2}')
    n=$(find "$B/corpus/$t" -type f | wc -l)
    crash=$(find "$B/crashes/$t" -type f | head -n1)
    result=ok
    if [[ -n "$crash" ]] || ! grep -q 'rc=0' "$B/logs/$t.rc"; then result="FOUND: ${crash:-see $log}"; status=1; fi
    echo "| $t | $SECONDS_EACH | ${execs:-?} | ${eps:-?} | ${cov:-?} | ${ft:-?} | $n | $result |"
  done
} > "$summary"  # not a pipe: status must survive the loop
cat "$summary"
if [[ $status != 0 ]]; then
  echo "fuzz: findings above; each log is $B/logs/<target>.log. Reproduce with $B/fuzz/fuzz_<t> FILE;"
  echo "after the fix, copy FILE to fuzz/regressions/<t>/ so every test run replays it."
fi
exit $status
