#!/usr/bin/env python3
"""The held-out metrics of a crosscoder, computed directly with numpy (float64) from the store's
shards and the checkpoint: an independent check of OUT/eval.json (src/crosscoder/evaluate.cpp).
  FVU_m = sum over rows and dims of (x - xhat)^2 / sum over rows and dims of (x - mean)^2,
  rows = held-out rows (split == 1) when the store has a split, the mean per dimension over them.
Usage: eval_checkpoint.py CKPT STORE -> prints JSON {"rows", "fvu": [a, b], "l0", "inactive_frac"}."""
import json, os, sys

import numpy as np

from safetensors_np import load

ckpt, store = sys.argv[1], sys.argv[2]
w = load(os.path.join(ckpt, "crosscoder.safetensors"))
cfg = json.load(open(os.path.join(ckpt, "config.json")))
man = json.load(open(os.path.join(store, "manifest.json")))
parts = [load(os.path.join(store, s["file"])) for s in man["shards"]]
acts = np.concatenate([p["acts"] for p in parts]).astype(np.float64)  # [N, 2, d]
if "eval_fraction" in man:
    split = np.concatenate([p["split"] for p in parts])
    acts = acts[split == 1]
x = acts * np.array(cfg["norm_factors"])[None, :, None]
f = np.maximum(np.einsum("bmd,mdf->bf", x, w["W_enc"]) + w["b_enc"], 0)
if cfg["architecture"] == "batchtopk":
    norms = np.linalg.norm(w["W_dec"], axis=-1).sum(-1)
    f = np.where(f * norms > cfg["threshold"], f, 0)
x_hat = np.einsum("bf,fmd->bmd", f, w["W_dec"]) + w["b_dec"]
err = ((x_hat - x) ** 2).sum(axis=(0, 2))                      # per model
var = ((x - x.mean(axis=0, keepdims=True)) ** 2).sum(axis=(0, 2))
print(json.dumps({"rows": int(x.shape[0]), "fvu": (err / var).tolist(), "l0": float((f > 0).sum(1).mean()),
                  "inactive_frac": float(((f > 0).sum(0) == 0).mean())}))
