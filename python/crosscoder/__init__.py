"""crosscoder.cpp from Python: the Qwen2 engine with TransformerLens-style hooks, the HF-identical
tokenizer, activation stores, crosscoders, analysis tables and dictionary_learning interop.

    import crosscoder as cc
    tok = cc.Tokenizer("organism/base")
    model = cc.Model("organism/base")
    logits, cache = model.run_with_cache(tok.encode("Wait, let me check."), names=["blocks.2.hook_resid_pre"])

docs/PYTHON.md has the whole API. Errors from the library are crosscoder.Error (a ValueError) with
the one-line message and its fields (file, object, problem, expected, got).
"""
import json
import os

import numpy as np

from ._core import ActivationStore, Crosscoder, Error, Model, Tokenizer

__all__ = ["ActivationStore", "Crosscoder", "Error", "Model", "Tokenizer", "read_analysis",
           "dictionary_learning_state_dict", "write_dictionary_learning"]


def _batches(self, batch_size, seed=0, split="train", chunk_rows=65536):
    """Shuffled batches of acts [batch_size, 2, d] (raw) over the store's train, held-out ("eval")
    or all rows: chunks in a seeded random order, rows shuffled within each chunk; the last partial
    batch is dropped. Not the trainer's order (its shuffle buffer is its own), the same rows."""
    if split not in ("train", "eval", "all"):
        raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")
    if batch_size <= 0 or chunk_rows <= 0:
        raise ValueError("batch_size and chunk_rows must be positive")
    rng = np.random.default_rng(seed)
    starts = np.arange(0, len(self), chunk_rows)
    pending = np.empty((0, 2, self.d_model), dtype=np.float32)
    for begin in rng.permutation(starts):
        rows = self.rows(int(begin), int(min(chunk_rows, len(self) - begin)))
        acts = rows["acts"]
        if split != "all" and "held_out" in rows:
            acts = acts[rows["held_out"] == (split == "eval")]
        pending = np.concatenate([pending, acts[rng.permutation(len(acts))]])
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]


ActivationStore.batches = _batches


def read_analysis(path):
    """The per-feature table of an analysis folder (features.jsonl): a pandas DataFrame when pandas
    is installed, else a list of dicts (one per feature)."""
    rows = []
    file = os.path.join(path, "features.jsonl")
    with open(file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise Error(f"{file}: line {n} is not JSON ({e.msg})") from None
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


_ST_DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def _read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, v in header.items():
        if name != "__metadata__":
            b, e = v["data_offsets"]
            out[name] = np.frombuffer(data[b:e], dtype=_ST_DTYPES[v["dtype"]]).reshape(v["shape"]).copy()
    return out


def _write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    names = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    for name, a in tensors.items():
        a = np.asarray(a).copy(order="C")  # (ascontiguousarray would make a scalar 1-D)
        blob = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    os.replace(tmp, path)


def dictionary_learning_state_dict(export_dir):
    """The state dict of a `crosscoder export --to dictionary_learning` folder as torch tensors, for
    dictionary_learning's CrossCoder / BatchTopKCrossCoder.load_state_dict (or torch.save, then
    from_pretrained). Its inputs are the raw residuals times crosscoder_cpp.json's norm_factors."""
    import torch
    return {k: torch.from_numpy(v) for k, v in _read_safetensors(os.path.join(export_dir, "model.safetensors")).items()}


def write_dictionary_learning(state_dict, out_dir, norm_factors=None):
    """The reverse: a dictionary_learning CrossCoder state dict (torch tensors or arrays, e.g. from
    torch.load) written as a folder `crosscoder import --from dictionary_learning` reads. norm_factors:
    what its inputs were scaled by (default 1, 1)."""
    arrays = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in state_dict.items()}
    os.makedirs(out_dir, exist_ok=True)
    _write_safetensors(os.path.join(out_dir, "model.safetensors"), arrays)
    if norm_factors is not None:
        num_layers, d, dict_size = arrays["encoder.weight"].shape
        config = {"d_in": int(d), "dict_size": int(dict_size), "norm_factors": [float(x) for x in norm_factors],
                  "architecture": "batchtopk" if "k" in arrays else "l1"}
        if "k" in arrays:
            config["k"] = int(arrays["k"])
        with open(os.path.join(out_dir, "crosscoder_cpp.json"), "w") as f:
            json.dump({"config": config}, f, indent=2)
