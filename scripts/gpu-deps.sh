#!/usr/bin/env bash
# Run here, on Debian 12 with apt: downloads the .deb files of the libraries the build needs into
# .gpu-deps/ (git-ignored, ~16 MB) so that they can travel to a GPU machine that reaches no package
# registry (`carry: [".gpu-deps"]`); scripts/gpu-check.sh unpacks them there into its own prefix,
# not into /. The CUDA toolkit, CMake and ninja are that machine's own; libcurl is left out (the GPU
# build has -DCROSSCODER_CURL=OFF: its runtime needs a dozen more libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0 libgfortran5
      nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
      libutf8proc-dev libutf8proc2 libtomlplusplus-dev libtomlplusplus3 libgtest-dev libgmock-dev)
rm -rf .gpu-deps
mkdir -p .gpu-deps
(cd .gpu-deps && apt-get download "${pkgs[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
n=$(ls .gpu-deps/*.deb | wc -l)
[[ "$n" -eq ${#pkgs[@]} ]] || { echo "gpu-deps: got $n of ${#pkgs[@]} packages"; exit 1; }
echo "gpu-deps: $n packages, $(du -sh .gpu-deps | cut -f1) in .gpu-deps/"
