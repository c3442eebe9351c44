#!/usr/bin/env python3
"""PyTorch peer for bench_forward: the same Qwen2 forward (HF semantics) in plain torch ops, weights
read from the same safetensors files, timed the same way. Prints one JSON object.

f32 mode: f32 weights and activations. bf16 mode: bf16 weights and activations (PyTorch's usual
CPU bf16 path). Run with Debian's python3-torch: /usr/bin/python3 bench/torch_qwen2.py --model DIR
"""
import argparse, json, os, resource, struct, time

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = np.asarray(mm[8 + n + b: 8 + n + e])
        if v["dtype"] == "BF16":
            t = torch.from_numpy(raw.view(np.int16).copy()).view(torch.bfloat16)
        elif v["dtype"] == "F16":
            t = torch.from_numpy(raw.view(np.float16).copy())
        else:
            t = torch.from_numpy(raw.view(np.float32).copy())
        out[name] = t.reshape(v["shape"])
    return out


def load(model_dir, dtype):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    w = {}
    for f in files:
        w.update(load_safetensors(os.path.join(model_dir, f)))
    return cfg, {k: v.to(dtype) for k, v in w.items()}


class Qwen2:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        self.H, self.KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim", cfg["hidden_size"] // self.H)
        self.eps = cfg["rms_norm_eps"]
        self.head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        self.inv_freq = inv

    def rms(self, x, wt):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return wt * xf.to(x.dtype)

    def rope(self, x, pos):  # x [B, h, T, hd]
        f = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, ids, cache=None, stop_at=None):  # ids [B, T]; returns last-position logits and cache
        # stop_at=L: return the residual stream entering layer L (hook_resid_pre) instead
        B, T = ids.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        pos = torch.arange(past, past + T)
        x = self.w["model.embed_tokens.weight"][ids]
        new_cache = []
        mask = torch.full((T, past + T), float("-inf")).triu(past + 1).to(x.dtype)
        for l in range(self.c["num_hidden_layers"]):
            if l == stop_at:
                return x
            p = f"model.layers.{l}."
            h = self.rms(x, self.w[p + "input_layernorm.weight"])
            q = torch.nn.functional.linear(h, self.w[p + "self_attn.q_proj.weight"], self.w[p + "self_attn.q_proj.bias"])
            k = torch.nn.functional.linear(h, self.w[p + "self_attn.k_proj.weight"], self.w[p + "self_attn.k_proj.bias"])
            v = torch.nn.functional.linear(h, self.w[p + "self_attn.v_proj.weight"], self.w[p + "self_attn.v_proj.bias"])
            q = self.rope(q.view(B, T, self.H, self.hd).transpose(1, 2), pos)
            k = self.rope(k.view(B, T, self.KV, self.hd).transpose(1, 2), pos)
            v = v.view(B, T, self.KV, self.hd).transpose(1, 2)
            if cache is not None:
                k = torch.cat([cache[l][0], k], 2)
                v = torch.cat([cache[l][1], v], 2)
            new_cache.append((k, v))
            rep = self.H // self.KV
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            att = torch.softmax((q @ kk.transpose(-1, -2)) / self.hd ** 0.5 + mask, -1, dtype=torch.float32).to(q.dtype)
            o = (att @ vv).transpose(1, 2).reshape(B, T, self.H * self.hd)
            x = x + torch.nn.functional.linear(o, self.w[p + "self_attn.o_proj.weight"])
            h = self.rms(x, self.w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.linear(h, self.w[p + "mlp.gate_proj.weight"])
            u = torch.nn.functional.linear(h, self.w[p + "mlp.up_proj.weight"])
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(g) * u, self.w[p + "mlp.down_proj.weight"])
        x = self.rms(x[:, -1:], self.w["model.norm.weight"])
        return torch.nn.functional.linear(x, self.head), new_cache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", default="bf16", choices=["f32", "bf16"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--check", metavar="LOGITS_NPY", help="compare last-position logits of token ids 1..8 "
                    "with this .npy from `crosscoder forward --dump-logits` and exit")
    ap.add_argument("--dump-resid", nargs=3, metavar=("LAYER", "IDS", "OUT_NPY"),
                    help="write the stream entering LAYER for the comma-separated token ids in file IDS as f32 [T, d]")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dt = torch.float32 if a.dtype == "f32" else torch.bfloat16
    t0 = time.time()
    cfg, w = load(a.model, dt)
    m = Qwen2(cfg, w)
    load_s = time.time() - t0
    if a.dump_resid:
        layer, ids_file, out = int(a.dump_resid[0]), a.dump_resid[1], a.dump_resid[2]
        ids = [int(t) for t in open(ids_file).read().replace(",", " ").split()]
        with torch.inference_mode():
            x = m.forward(torch.tensor([ids]), stop_at=layer)[0].float().numpy()
        np.save(out, x)
        return
    if a.check:
        want = np.load(a.check)[-1]
        with torch.inference_mode():
            got = m.forward(torch.arange(1, 9)[None])[0][0, -1].float().numpy()
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        print(json.dumps({"check": "torch vs crosscoder.cpp last-position logits", "dtype": a.dtype, "max_rel_diff": rel}))
        return
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (a.batch, a.seq), generator=g)
    with torch.inference_mode():
        m.forward(ids[:1])  # warm-up
        t1 = time.time()
        m.forward(ids)
        prefill_s = time.time() - t1
        _, cache = m.forward(ids[:1])
        tok = torch.tensor([[1]])
        t2 = time.time()
        for _ in range(a.decode):
            logits, cache = m.forward(tok, cache)
            tok = logits[:, -1].argmax(-1, keepdim=True)
        decode_s = (time.time() - t2) / a.decode
    T = a.batch * a.seq
    print(json.dumps({"impl": "pytorch " + torch.__version__, "dtype": a.dtype, "threads": torch.get_num_threads(),
                      "load_s": round(load_s, 2), "prefill_tokens": T, "prefill_s": round(prefill_s, 3),
                      "prefill_tok_s": round(T / prefill_s, 1), "decode_tok_s": round(1 / decode_s, 2),
                      "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))


if __name__ == "__main__":
    main()
