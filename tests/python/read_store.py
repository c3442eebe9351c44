#!/usr/bin/env python3
"""Reads a crosscoder activation store with numpy only (no project code): proves the format is
Python-readable. Prints a JSON summary the C++ test compares with its own reader."""
import json, os, struct, sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype=np.uint8)
        dt = v["dtype"]
        if dt == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.view({"F32": np.float32, "I32": np.int32, "U8": np.uint8}[dt])
        out[name] = arr.reshape(v["shape"])
    return out


store = sys.argv[1]
m = json.load(open(os.path.join(store, "manifest.json")))
acts, tokens = [], []
for s in m["shards"]:
    t = read_safetensors(os.path.join(store, s["file"]))
    acts.append(t["acts"])
    tokens.append(t["tokens"])
acts = np.concatenate(acts)
tokens = np.concatenate(tokens)
print(json.dumps({"rows": int(acts.shape[0]), "shape": list(acts.shape), "sum_a": float(acts[:, 0].astype(np.float64).sum()),
                  "sum_b": float(acts[:, 1].astype(np.float64).sum()), "tokens_head": tokens[:5].tolist(),
                  "norm_factors": m["norm_factors"]}))
