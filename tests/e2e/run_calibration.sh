#!/usr/bin/env bash
# The calibration as a test (issue 19): a reduced configs/calibration.toml (L1 only) must find the
# planted mechanism and the planted concept, call the identical pair clean and report the fine-tune
# null pair's figures; and each check must be able to fail:
#  1. the reduced calibration (without the reference pair, the demo's own): the required checks pass
#     (tests/e2e/check_calibration.py);
#  2. plant strength 0 (the "planted" model is the base model): the plant-finding checks fail;
#  3. a crosscoder trained one step: the plant-finding checks fail.
# Usage: run_calibration.sh CROSSCODER_BIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
# L1 only: the [calibration.crosscoder.batchtopk] table of the shipped file is left out.
cfg=$work/calibration.toml
python3 - "$root/configs/calibration.toml" "$cfg" "$root" <<'PY'
import re, sys
src, dst, root = sys.argv[1:]
text = open(src).read()
text = text.split("[calibration.crosscoder.batchtopk]")[0]
text = text.replace('"../', '"' + root + '/')
open(dst, "w").write(text)
PY
# The variants that must fail need only the token plant.
plant_only=(--set 'calibration.concept_triggers=[]' --set 'calibration.finetuned=""' --set 'calibration.reference=""'
            --set calibration.identical_null=false)
small=(--quiet --set calibration.crosscoder.l1.dict_size=512 --set calibration.crosscoder.l1.tokens=200000 --set calibration.sequences=96)

echo "== 1. the reduced calibration"
"$bin" run "$cfg" --out "$work/run" "${small[@]}" --set 'calibration.reference=""' > "$work/first.txt"
cat "$work/first.txt"
python3 "$here/check_calibration.py" "$work/run/calibration/calibration.json" pass

echo "== 2. plant strength 0: nothing is planted, so nothing may be found"
"$bin" run "$cfg" --out "$work/zero" "${small[@]}" --set calibration.strength_in=0 --set calibration.strength_out=0 \
  "${plant_only[@]}" > "$work/zero.txt"
python3 "$here/check_calibration.py" "$work/zero/calibration/calibration.json" fail

echo "== 3. a crosscoder trained one step finds nothing"
"$bin" run "$cfg" --out "$work/onestep" "${small[@]}" --set calibration.crosscoder.l1.tokens=1024 \
  "${plant_only[@]}" > "$work/onestep.txt"
python3 "$here/check_calibration.py" "$work/onestep/calibration/calibration.json" fail
echo "calibration test: ok"
