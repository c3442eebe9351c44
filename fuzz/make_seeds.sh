#!/usr/bin/env bash
# Seed corpora for the fuzz targets, cut from real files: data/, the committed organism,
# configs/, and the fixtures the fixture-based targets write themselves (CCFUZZ_WRITE_SEEDS).
#   fuzz/make_seeds.sh BIN_DIR OUT      BIN_DIR holds fuzz_<t> or replay_<t>; OUT gets OUT/<t>/
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
mkdir -p "$2"
OUT=$(realpath "$2")  # absolute: a target may chdir before writing its seeds
DATA=data
bin() { if [[ -x "$BIN/fuzz_$1" ]]; then echo "$BIN/fuzz_$1"; else echo "$BIN/replay_$1"; fi; }
mkdir -p "$OUT"/{safetensors,model_dir,tokenizer_json,encode,corpus,store,checkpoint,experiment,small_files}

# Fixture-based targets write one seed per fixture file (its selector byte + its bytes). The fuzz
# binaries exit after initialising with -runs=0; the replay binaries need one input, so give them
# an empty file to run.
empty=$(mktemp)
for t in model_dir store checkpoint; do
  CCFUZZ_WRITE_SEEDS="$OUT/$t" "$(bin $t)" -runs=0 "$empty" > /dev/null 2>&1 || true
done
rm -f "$empty"
# Plain safetensors: those fixture files without their selector byte.
for f in "$OUT"/{model_dir,store,checkpoint}/*.safetensors; do tail -c +2 "$f" > "$OUT/safetensors/$(basename "$(dirname "$f")")-$(basename "$f")"; done

cp organism/base/tokenizer.json "$OUT/tokenizer_json/organism.json"

# Encoder: text and traces (head|tail, never tail|head: pipefail would see SIGPIPE) (first byte: bit 0 = add special tokens), a few KiB each.
i=0
for f in "$DATA/general_text/text/tinyshakespeare.txt" "$DATA/general_text/text/wikitext2_raw_test.txt" \
         "$DATA/reasoning_traces/reasoning_traces.jsonl" "$DATA/math/math500_test.jsonl"; do
  for off in 0 100000 300000; do
    { printf '\x0%d' $((i % 2)); head -c $((off + 2000)) "$f" | tail -c 2000; } > "$OUT/encode/$(basename "$f")-$off"
    i=$((i + 1))
  done
done

# Corpus: selector byte then file text (see fuzz/targets/corpus.cpp for the specs).
# The shortest trace line, whole (a cut line is only a malformed-JSON seed).
{ printf '\x01'; /usr/bin/python3 -c 'import sys; sys.stdout.write(min(open(sys.argv[1], encoding="utf-8"), key=len))' "$DATA/reasoning_traces/reasoning_traces.jsonl"; } > "$OUT/corpus/traces"
{ printf '\x00'; head -n 3 "$DATA/math/gsm8k_test.jsonl" | sed 's/"question"/"text"/'; } > "$OUT/corpus/gsm8k-as-text"
{ printf '\x02'; echo '{"conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}]}'; } > "$OUT/corpus/conversations"
{ printf '\x03'; echo '{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}'; } > "$OUT/corpus/messages"
{ printf '\x04'; echo '{"meta":{"body":"nested text"}}'; } > "$OUT/corpus/nested"
{ printf '\x05'; head -c 3000 "$DATA/general_text/text/wikitext2_raw_test.txt"; } > "$OUT/corpus/blocks"
{ printf '\x06'; head -c 1000 "$DATA/general_text/text/tinyshakespeare.txt"; } > "$OUT/corpus/file"
printf '\x07data/x.jsonl:question+trace@0.5#r1-distill' > "$OUT/corpus/spec"

# Experiment TOML (first byte even) and --set overrides (odd).
for f in configs/*.toml; do
  [[ "$f" == *lexicon* ]] && continue
  { printf '\x00'; cat "$f"; } > "$OUT/experiment/$(basename "$f")"
done
printf '\x01harvest.tokens=1000' > "$OUT/experiment/set-int"
printf '\x01steering.feature=["self-reflection","top-nrn"]' > "$OUT/experiment/set-list"
printf '\x01crosscoder.l1.lr=2e-4' > "$OUT/experiment/set-float"

# Small files: 0 lexicon, 1 npy, 2 steering prompts, 3 word pairs, 4 stages.json.
{ printf '\x00'; cat configs/reasoning_lexicon.toml; } > "$OUT/small_files/lexicon"
{ printf '\x01'; /usr/bin/python3 -c 'import numpy as np, sys, io; b = io.BytesIO(); np.save(b, np.arange(12, dtype="<f4").reshape(3, 4)); sys.stdout.buffer.write(b.getvalue())'; } > "$OUT/small_files/npy"
{ printf '\x02'; head -n 2 "$DATA/math/gsm8k_test.jsonl"; } > "$OUT/small_files/prompts"
{ printf '\x03'; /usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(json.dumps(j[:8] if isinstance(j, list) else j))' "$DATA/function_vectors/country-capital.json"; } > "$OUT/small_files/word-pairs"
{ printf '\x04'; echo '{"harvest":{"fingerprint":"0123456789abcdef","state":"done","seconds":12.5,"settings":{"tokens":300000}}}'; } > "$OUT/small_files/stages"
echo "seeds: $(find "$OUT" -type f | wc -l) files in $OUT"
