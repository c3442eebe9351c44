"""A numpy-only safetensors reader (BF16 widened to float32), shared by the store and checkpoint readers."""
import json, struct

import numpy as np


def load(path):
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
        if v["dtype"] == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.view({"F32": np.float32, "I32": np.int32, "U8": np.uint8}[v["dtype"]])
        out[name] = arr.reshape(v["shape"])
    return out
