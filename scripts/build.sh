#!/usr/bin/env bash
# Configures and builds into BUILD_DIR (default build/), Release, warnings as errors.
# Extra arguments go to cmake, e.g. scripts/build.sh -DCROSSCODER_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCROSSCODER_WERROR=ON "$@" > "$BUILD_DIR.cmake.log" 2>&1 || { cat "$BUILD_DIR.cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)"
