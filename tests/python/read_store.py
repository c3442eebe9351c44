#!/usr/bin/env python3
"""Reads a crosscoder activation store with numpy only (no project code): proves the format is
Python-readable. Prints a JSON summary the C++ test compares with its own reader."""
import json, os, sys

import numpy as np

from safetensors_np import load


store = sys.argv[1]
m = json.load(open(os.path.join(store, "manifest.json")))
acts, tokens = [], []
for s in m["shards"]:
    t = load(os.path.join(store, s["file"]))
    acts.append(t["acts"])
    tokens.append(t["tokens"])
acts = np.concatenate(acts)
tokens = np.concatenate(tokens)
print(json.dumps({"rows": int(acts.shape[0]), "shape": list(acts.shape), "sum_a": float(acts[:, 0].astype(np.float64).sum()),
                  "sum_b": float(acts[:, 1].astype(np.float64).sum()), "tokens_head": tokens[:5].tolist(),
                  "norm_factors": m["norm_factors"]}))
