#!/usr/bin/env python3
"""Loads a crosscoder checkpoint with numpy only and computes f(x) for rows of an F32 activation
store: the docs/CROSSCODER.md example, run by the test suite against the C++ encoder.
Usage: encode_checkpoint.py CKPT STORE N  -> prints JSON {"f": [[...], ...]} for the first N rows."""
import json, os, sys

import numpy as np

from safetensors_np import load


ckpt, store, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
w = load(os.path.join(ckpt, "crosscoder.safetensors"))
cfg = json.load(open(os.path.join(ckpt, "config.json")))
acts = load(os.path.join(store, "shard-00000.safetensors"))["acts"][:n].astype(np.float64)  # [n, 2, d]
s = np.array(cfg["norm_factors"])[None, :, None]          # inputs are scaled by s_m
x = acts * s
pre = np.einsum("bmd,mdf->bf", x, w["W_enc"]) + w["b_enc"]  # W_enc [2, d, F]
f = np.maximum(pre, 0)
if cfg["architecture"] == "batchtopk":                       # inference: keep scores above θ
    norms = np.linalg.norm(w["W_dec"], axis=-1).sum(-1)      # W_dec [F, 2, d]
    f = np.where(f * norms > cfg["threshold"], f, 0)
x_hat = np.einsum("bf,fmd->bmd", f, w["W_dec"]) + w["b_dec"]
print(json.dumps({"f": f.tolist(), "mse": float(((x_hat - x) ** 2).sum(-1).sum(-1).mean())}))
