#!/usr/bin/env bash
# The main job: the paper end to end on the committed model organism (organism/base, a small Qwen2
# LM trained here, vs organism/distilled, the same LM fine-tuned on R1-style reasoning traces; see
# organism/BUILD.md), with nothing downloaded and nothing precomputed:
#   harvest of both models' residual streams at half depth over reasoning traces + general text,
#   an L1 crosscoder (the paper's recipe) and a BatchTopK crosscoder, the analysis of the L1 one
#   (NRN classes, contexts, reasoning categories, Latent Scaling), feature ablation in both models,
#   a steering sweep on "What is 5-1?" and GSM8K problems, the parallelogram geometry of every
#   function-vector task, and the HTML report. Settings: configs/organism.toml (docs/RUN.md).
#   Usage: scripts/demo.sh [RUN_FOLDER]   (default demo-out; a re-run skips finished stages)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
(cd report && npm ci --no-audit --no-fund --loglevel=error)
BUILD_DIR=build scripts/build.sh > build.log 2>&1 || { tail -50 build.log; exit 1; }
build/crosscoder demo --out "${1:-demo-out}"
