#!/usr/bin/env python3
"""Checks the outputs of a `crosscoder run` / `crosscoder demo` folder: every stage finished, every
table well-formed, the crosscoders reconstruct above a floor. Asserts on structure and ranges, not on
numbers produced earlier by the code under test.
Usage: check_run.py RUN_DIR EV_FLOOR ALPHA_COUNT TASK_COUNT"""
import json
import math
import os
import sys

run, ev_floor, n_alpha, n_tasks = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
problems = []


def check(cond, what):
    if not cond:
        problems.append(what)


def load(rel):
    path = os.path.join(run, rel)
    if not os.path.exists(path):
        problems.append(f"{rel} is missing")
        return None
    with open(path) as f:
        return json.load(f)


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


stages = load("stages.json") or {}
for name in ["calibration", "harvest", "train-l1", "train-batchtopk", "spliced-loss-l1", "spliced-loss-batchtopk", "analyze", "ablate", "steer", "geometry", "enrich", "report"]:
    check(stages.get(name, {}).get("state") == "done", f"stage {name} is not done: {stages.get(name)}")

m = load("store/manifest.json")
if m:
    check(m["complete"] is True, "store is not complete")
    check(m["tokens"] == m["target_tokens"], f"store holds {m['tokens']} of {m['target_tokens']} tokens")
    check(len(m["corpus_tokens_taken"]) == 2 and min(m["corpus_tokens_taken"]) > 0, "a corpus contributed no tokens")
    check(all(finite(s) and s > 0 for s in m["norm_factors"]), f"bad norm factors {m['norm_factors']}")
    # Mixing by tokens: each corpus's share within 2 percentage points of the share asked.
    for asked, got in zip(m["corpus_share_asked"], m["corpus_share_got"]):
        check(abs(asked - got) <= 0.02, f"corpus share asked {asked:.3f} got {got:.3f}")
    check(0 < m["eval_tokens"] < m["tokens"], f"held-out rows {m['eval_tokens']} of {m['tokens']}")

for cc in ["l1", "batchtopk"]:
    path = os.path.join(run, f"crosscoder-{cc}", "train_log.jsonl")
    if not os.path.exists(path):
        problems.append(f"{path} is missing")
        continue
    rows = [json.loads(l) for l in open(path) if l.strip()]
    check(len(rows) >= 2, f"{cc}: fewer than 2 log rows")
    last = rows[-1]
    for k in ["ev_a", "ev_b"]:
        check(finite(last[k]) and last[k] > ev_floor, f"{cc}: {k} = {last[k]} is not above {ev_floor}")
    check(rows[-1]["loss"] < rows[0]["loss"], f"{cc}: loss did not fall ({rows[0]['loss']} -> {rows[-1]['loss']})")
    ev = load(f"crosscoder-{cc}/eval.json")
    if ev:
        check(ev["held_out"] is True and ev["rows"] > 0, f"{cc}: eval.json is not on held-out rows: {ev}")
        check(all(finite(x) and 1 - x > ev_floor for x in ev["fvu"]), f"{cc}: held-out FVU {ev['fvu']} leaves less than {ev_floor}")
    sl = load(f"crosscoder-{cc}/spliced_loss.json")
    if sl:
        check(sl["held_out"] is True and sl["positions"] > 0, f"{cc}: spliced loss not on held-out positions: {sl['positions']}")
        for model in ["base", "distilled"]:
            x = sl[model]
            check(all(finite(x[k]) for k in ["ce_clean", "ce_spliced", "ce_zero", "kl_spliced", "kl_zero"]), f"{cc} {model}: {x}")
            # Deleting the stream at the hook must hurt more than the crosscoder does, and the
            # crosscoder must recover more than the reconstruction floor of the loss gap.
            check(x["ce_zero"] > x["ce_clean"], f"{cc} {model}: zero-ablation does not raise the loss ({x['ce_zero']} vs {x['ce_clean']})")
            check(finite(x["loss_recovered"]) and x["loss_recovered"] > ev_floor, f"{cc} {model}: loss recovered {x['loss_recovered']}")
            lo, hi = x["loss_recovered_ci95"]
            check(lo <= hi, f"{cc} {model}: loss-recovered interval [{lo}, {hi}]")

s = load("analysis/summary.json")
if s:
    counts = s["class_counts"]
    check(sum(counts.values()) + s["dead"] == s["features"], f"class counts {counts} + dead {s['dead']} != {s['features']}")
    nrn = [json.loads(l)["nrn"] for l in open(os.path.join(run, "analysis/features.jsonl")) if l.strip()]
    check(len(nrn) == s["features"], "features.jsonl does not have one row per feature")
    check(all(x is None or 0 <= x <= 1 for x in nrn), "an NRN outside [0, 1]")
load("analysis/categories.json")

a = load("ablation/ablation.json")
if a:
    check(len(a["results"]) > 0, "ablation has no results")
    for r in a["results"]:
        check(r["condition"] in ("top", "random", "shared", "other") and r["model"] in ("base", "distilled"), f"odd ablation cell {r}")
        check(r["n_positions"] > 0 and finite(r["mean_delta_logit"]), f"ablation cell without data {r['category']} {r['k']}")
    for cat, ps in a["positions"].items():
        check(all(p["held_out"] for p in ps), f"ablation category {cat} evaluates a position outside the held-out documents")

st = load("steer/steer.json")
if st:
    alphas = {r["alpha"] for r in st["table"]}
    check(len(alphas) == n_alpha, f"steering table has alphas {sorted(alphas)}, expected {n_alpha}")
    for r in st["table"]:
        check(r["runs"] > 0 and r["tokens"]["mean"] > 0, f"steering row without generated tokens {r}")

g = load("geometry/geometry.json")
if g:
    check(len(g["tasks"]) == n_tasks, f"geometry has {len(g['tasks'])} tasks, expected {n_tasks}")
    for t in g["tasks"]:
        for mo in t["models"]:
            check(finite(mo["loss"]) and mo["loss"] > 0, f"geometry {t['task']} {mo['model']}: loss {mo['loss']}")
    for s in g["summary"]:
        check(0 <= s["sign_test_p"] <= 1 and 0 <= s["wilcoxon_p"] <= 1, f"geometry paired tests out of range: {s}")

check(os.path.getsize(os.path.join(run, "report.html")) > 500_000 if os.path.exists(os.path.join(run, "report.html")) else False,
      "report.html is missing or too small to hold the inlined plotting library")
summary = open(os.path.join(run, "summary.txt")).read() if os.path.exists(os.path.join(run, "summary.txt")) else ""
check("report:" in summary and "crosscoder l1" in summary, "summary.txt lacks the report or crosscoder lines")

e = load("enrichment/enrichment.json")
if e is not None:
    check(e["features_tested"] > 0 and e["sentences"] > 0, f"enrichment tested nothing: {e['features_tested']} features")
    check("lexicon_vs_enrichment" in e["agreement"], "enrichment has no agreement with the lexicon")
    check("  enrichment: " in summary, "summary.txt lacks the enrichment line")
    found, false_alarms = sum(e["enriched_features_per_tag"].values()), sum(e["null"]["enriched_features_per_tag"].values())
    check(false_alarms <= max(2, found // 20), f"enrichment's shuffled-tag null finds {false_alarms} enriched pairs against {found}")
    rows = [json.loads(l) for l in open(os.path.join(run, "enrichment/enrichment.jsonl"))]
    for r in rows:
        for tag, t in r["tags"].items():
            if t["tested"]:
                check(0 < t["p"] <= 1 and t["p"] <= t["q"] <= 1, f"enrichment feature {r['feature']} {tag}: p {t['p']} q {t['q']}")

if problems:
    print("check_run: FAILED\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"check_run: {run}: all stages done and well-formed")
