#!/usr/bin/env python3
"""Reads calibration.json and checks the verdicts a calibration must reach.

  pass: on the planted pairs (token and concept) the plant is found (cos(d_B - d_A, u) >= threshold, change rank within
        the threshold, not base-only) and its ablation lowers log p(target) in the planted model;
        on the identical pair no alive feature is non-shared beyond the threshold; the concept
        and the fine-tune null pairs were run (the null pair reports figures, no checks).
  fail: at least one of the plant-finding checks fails (a variant in which there is nothing to find).
"""
import json
import sys

FINDING = ("cos(d_B - d_A, u)", "its rank by change mass")
REQUIRED = FINDING + ("the plant works", "its class is not base-only", "ablating it lowers log p(target)", "share of alive features not shared")

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
    for pair in ("planted", "concept", "identical", "finetuned"):
        if pair not in c["pairs"]:
            sys.exit(f"{path}: the {pair} pair did not run")
    for name, r in c["pairs"]["finetuned"].items():
        if not (0 <= r["not_shared"] <= r["alive"] and r["change_mass_total"] >= r["change_mass_top20"] >= 0):
            sys.exit(f"{path}: finetuned/{name}: figures out of range")
    for name, r in c["pairs"]["concept"].items():
        if len(r.get("signature", {}).get("per_trigger", [])) != len(c["concept_plant"]["triggers"]):
            sys.exit(f"{path}: concept/{name}: no signature per trigger")
else:
    finding = [k for _, _, k in checks if k["check"].startswith(FINDING)]
    if not finding or all(k["pass"] for k in finding):
        sys.exit(f"{path}: the plant-finding checks all pass on a variant with nothing to find")
print(f"{path}: as expected ({want})")
