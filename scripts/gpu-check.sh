#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with the CUDA backend, run the tests labelled `gpu` and the
# GPU benchmark, and write the log and the numbers to OUT (docs/GPU.md). Sized to finish in about
# six minutes on one H200 with 16 cores, so that one rerun fits a 15-minute loan.
#   scripts/gpu-check.sh OUT
# Needs nvcc + cuBLAS (CUDA 13), CMake and ninja on that machine. The libraries come from the
# system when it has them, or from .gpu-deps/ (scripts/gpu-deps.sh, run beforehand on Debian, then
# carried): unpacked into /tmp/ccdeps, never into /. The build leaves out MPI, Python and libcurl.
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
{ date; nvidia-smi; "$nvcc" --version; git log --oneline -1 2>/dev/null; } > "$out/machine.txt" 2>&1
start=$SECONDS
extra=()
if compgen -G ".gpu-deps/*.deb" > /dev/null; then
  root=/tmp/ccdeps
  rm -rf "$root" && mkdir -p "$root"
  for f in .gpu-deps/*.deb; do dpkg-deb -x "$f" "$root" 2>/dev/null || { mkdir -p /tmp/ccdeb && (cd /tmp/ccdeb && ar x "$OLDPWD/$f" && tar -xf data.tar.* -C "$root" && rm -f data.tar.* control.tar.* debian-binary); }; done
  lib=$root/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:$root/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  extra+=(-DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_BUILD_RPATH="$lib;$lib/openblas-pthread")
  echo "gpu-check: libraries from .gpu-deps unpacked into $root"
fi
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCROSSCODER_CUDA=ON -DCROSSCODER_PYTHON=OFF -DCROSSCODER_MPI=OFF \
  -DCROSSCODER_CURL=OFF -DCROSSCODER_ONEDNN=OFF -DCMAKE_CUDA_COMPILER="$nvcc" "${extra[@]}" > "$out/configure.log" 2>&1 ||
  { echo "gpu-check: configure failed ($out/configure.log)"; tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" --target crosscoder crosscoder_gpu_tests crosscoder_tests bench_cuda_train \
  > "$out/build.log" 2>&1 || { echo "gpu-check: build failed ($out/build.log)"; tail -30 "$out/build.log"; exit 1; }
echo "gpu-check: built in $((SECONDS - start)) s"
rc=0
(cd build-gpu && ctest -L gpu --output-on-failure --timeout 300) > "$out/gpu-tests.log" 2>&1 || rc=1
(cd build-gpu && ctest -R '^Device\.' --output-on-failure) >> "$out/gpu-tests.log" 2>&1 || rc=1
tail -5 "$out/gpu-tests.log"
timeout 240 build-gpu/bench/bench_cuda_train > "$out/bench_cuda_train.jsonl" 2> "$out/bench_cuda_train.err" || rc=1
cat "$out/bench_cuda_train.jsonl" "$out/bench_cuda_train.err"
echo "gpu-check: done in $((SECONDS - start)) s, rc $rc; files in $out"
exit $rc
