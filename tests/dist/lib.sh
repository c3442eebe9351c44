# Helpers shared by the MPI test scripts (sourced).

# dist_test_setup BIN WORK: sets bin (absolute), work (emptied), root (the repository) and mpi (the
# mpirun command with a 300 s timeout), and enters the repository.
dist_test_setup() {
  bin=$(realpath "$1")
  work=$2
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  rm -rf "$work"
  mkdir -p "$work"
  cd "$root"
  mpi=(timeout 300 mpirun --oversubscribe --allow-run-as-root)
}

# kill_rank_when JOB VICTIM PATTERN OUT READY...: polls (up to 60 s) until the command READY...
# succeeds and a process of the mpirun job JOB whose command line matches PATTERN runs as rank
# VICTIM, SIGKILLs that process and checks that the job then failed. Sets killed_pid.
kill_rank_when() {
  local job=$1 victim=$2 pattern=$3 out=$4 p
  shift 4
  killed_pid=""
  for _ in $(seq 1200); do
    if "$@"; then
      for p in $(pgrep -f -- "$pattern" || true); do
        [[ $(tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -c "^OMPI_COMM_WORLD_RANK=$victim$") == 1 ]] && killed_pid=$p
      done
      [[ -n $killed_pid ]] && break
    fi
    sleep 0.05
  done
  [[ -n $killed_pid ]] || { echo "FAIL: rank $victim of the run in $out was not found mid-run" >&2; cat "$out.txt" >&2; exit 1; }
  kill -9 "$killed_pid"
  if wait "$job"; then echo "FAIL: the job went on after rank $victim was killed" >&2; exit 1; fi
}
