#!/usr/bin/env python3
"""Relative error of the residual stream at a hook between compute modes: reads [T, d] .npy dumps
named MODE.npy from a folder (f32 = reference) and prints one JSON object per comparison:
per-position ||a - b|| / ||b||, mean and max over positions (the first position is left out: it
is the attention sink whose norm dwarfs the rest in trained models)."""
import json, sys, os
import numpy as np

folder, label = sys.argv[1], sys.argv[2]
dumps = {f[:-4]: np.load(os.path.join(folder, f)).astype(np.float64) for f in os.listdir(folder) if f.endswith(".npy")}
pairs = [("bf16", "f32"), ("bf16-act", "f32"), ("bf16-act-fallback", "f32"), ("torch-bf16", "f32"),
         ("bf16-act", "torch-bf16"), ("bf16-act-fallback", "bf16-act")]
for a, b in pairs:
    if a not in dumps or b not in dumps:
        continue
    x, y = dumps[a][1:], dumps[b][1:]
    rel = np.linalg.norm(x - y, axis=1) / np.linalg.norm(y, axis=1)
    print(json.dumps({"checkpoint": label, "a": a, "b": b, "positions": int(len(rel)),
                      "rel_err_mean": float(rel.mean()), "rel_err_max": float(rel.max())}))
