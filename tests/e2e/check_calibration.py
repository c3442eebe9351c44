#!/usr/bin/env python3
"""Reads calibration.json and checks the verdicts a calibration must reach.

  pass: on the planted pair the plant is found (cos(d_B - d_A, u) >= threshold, change rank within
        the threshold, not base-only) and its ablation lowers log p(target) in the planted model;
        on the identical pair no alive feature is non-shared beyond the threshold.
  fail: at least one of the plant-finding checks fails (a variant in which there is nothing to find).
"""
import json
import sys

FINDING = ("cos(d_B - d_A, u)", "its rank by change mass")
REQUIRED = FINDING + ("its class is not base-only", "ablating it lowers log p(target)", "share of alive features not shared")

path, want = sys.argv[1], sys.argv[2]
c = json.load(open(path))
checks = [(pair, name, k) for pair, per in c["pairs"].items() for name, r in per.items() for k in r["checks"]]
for pair, name, k in checks:
    print(f"  {pair}/{name}: {'pass' if k['pass'] else 'FAIL'} {k['figure']:.4g} (needs {k['threshold']}) {k['check']}")
if want == "pass":
    bad = [k["check"] for _, _, k in checks if k["check"].startswith(REQUIRED) and not k["pass"]]
    seen = {p for p in REQUIRED if any(k["check"].startswith(p) for _, _, k in checks)}
    if bad or seen != set(REQUIRED):
        sys.exit(f"{path}: required checks failed {bad} or missing {set(REQUIRED) - seen}")
else:
    finding = [k for _, _, k in checks if k["check"].startswith(FINDING)]
    if not finding or all(k["pass"] for k in finding):
        sys.exit(f"{path}: the plant-finding checks all pass on a variant with nothing to find")
print(f"{path}: as expected ({want})")
