#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with the CUDA backend, run the tests labelled `gpu` and the
# GPU benchmark, and write the log and the numbers to OUT (docs/GPU.md). Sized to finish in about
# six minutes on one H200 with 16 cores, so that one rerun fits a 15-minute loan.
#   scripts/gpu-check.sh OUT
# Needs the Debian packages of scripts/install-deps.sh and nvcc + cuBLAS (CUDA 13); it installs
# nothing itself (the GPU machines here reach no network).
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
{ date; nvidia-smi; "$nvcc" --version; git log --oneline -1 2>/dev/null; } > "$out/machine.txt" 2>&1
start=$SECONDS
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCROSSCODER_CUDA=ON -DCROSSCODER_PYTHON=OFF \
  -DCMAKE_CUDA_COMPILER="$nvcc" > "$out/configure.log" 2>&1 || { echo "gpu-check: configure failed ($out/configure.log)"; exit 1; }
cmake --build build-cuda -j "$(nproc)" --target crosscoder crosscoder_gpu_tests crosscoder_tests bench_cuda_train \
  > "$out/build.log" 2>&1 || { echo "gpu-check: build failed ($out/build.log)"; tail -30 "$out/build.log"; exit 1; }
echo "gpu-check: built in $((SECONDS - start)) s"
rc=0
(cd build-cuda && ctest -L gpu --output-on-failure --timeout 300) > "$out/gpu-tests.log" 2>&1 || rc=1
(cd build-cuda && ctest -R '^Device\.' --output-on-failure) >> "$out/gpu-tests.log" 2>&1 || rc=1
tail -5 "$out/gpu-tests.log"
timeout 240 build-cuda/bench/bench_cuda_train > "$out/bench_cuda_train.jsonl" 2> "$out/bench_cuda_train.err" || rc=1
cat "$out/bench_cuda_train.jsonl" "$out/bench_cuda_train.err"
echo "gpu-check: done in $((SECONDS - start)) s, rc $rc; files in $out"
exit $rc
