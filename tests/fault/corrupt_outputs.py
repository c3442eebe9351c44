#!/usr/bin/env python3
"""Every JSON file a finished run leaves is read back by `crosscoder report` and by a no-op
`crosscoder run` (its summary). Corrupt each one in turn (each top-level field set to null, then the
whole file truncated, then a wrong root type) and require a clean answer from both readers: exit 0
(the field was optional) or exit 1 with one line "error: ..." naming the file. Exit 2 (a raw library
exception), a signal or a multi-line trace is a failure.
Usage: corrupt_outputs.py CROSSCODER_BIN RUN_DIR CONFIG [--set ... as the run was made]"""
import json
import os
import subprocess
import sys

bin_, run, config, sets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
files = ["stages.json", "store/manifest.json", "analysis/summary.json", "analysis/categories.json",
         "ablation/ablation.json", "steer/steer.json", "geometry/geometry.json", "calibration/calibration.json",
         "enrichment/enrichment.json"]
for cc in ["l1", "batchtopk"]:
    files += [f"crosscoder-{cc}/config.json", f"crosscoder-{cc}/eval.json", f"crosscoder-{cc}/spliced_loss.json"]
readers = {
    "report": [bin_, "report", "--run", run, "--out", os.path.join(run, "corrupt-report.html")],
    "run": [bin_, "run", config, "--out", run, "--quiet"] + sets,
}
problems, tried = [], 0


def attempt(rel, what):
    global tried
    for name, cmd in readers.items():
        tried += 1
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        err = [l for l in r.stderr.splitlines() if l.startswith("error")]
        base = os.path.basename(rel)
        if r.returncode == 0:
            continue
        if r.returncode == 1 and len(err) == 1 and base in err[0]:
            continue
        problems.append(f"{name} on {rel} with {what}: exit {r.returncode}: {r.stderr.strip()[-300:]}")


for rel in files:
    path = os.path.join(run, rel)
    with open(path) as f:
        original = f.read()
    doc = json.loads(original)
    try:
        mutations = [(f"{k} = null", {**doc, k: None}) for k in doc] if isinstance(doc, dict) else []
        for what, m in mutations:
            with open(path, "w") as f:
                json.dump(m, f)
            attempt(rel, what)
        for what, text in [("the file truncated", original[: len(original) // 2]), ("a list as root", "[]")]:
            with open(path, "w") as f:
                f.write(text)
            attempt(rel, what)
    finally:
        with open(path, "w") as f:
            f.write(original)

print(f"corrupt_outputs: {tried} reads of corrupted files, {len(problems)} problems")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
