#!/usr/bin/env python3
"""PyTorch peer for bench_lm_train: the same Qwen2 shape (GQA, RoPE, RMSNorm, SwiGLU, q/k/v biases,
untied embeddings) written in plain torch ops, trained the usual way (autograd, clip_grad_norm_,
torch.optim.AdamW) on random tokens, F32, same batch and thread count. Prints one JSON object.
Run with Debian's python3-torch: /usr/bin/python3 bench/torch_lm_train.py"""
import argparse, json, math, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(s, d, H, KV, mlp):
        super().__init__()
        s.H, s.KV, s.hd = H, KV, d // H
        s.ln1, s.ln2 = nn.Parameter(torch.ones(d)), nn.Parameter(torch.ones(d))
        s.q, s.k, s.v = nn.Linear(d, d), nn.Linear(d, KV * s.hd), nn.Linear(d, KV * s.hd)
        s.o = nn.Linear(d, d, bias=False)
        s.gate, s.up, s.down = nn.Linear(d, mlp, bias=False), nn.Linear(d, mlp, bias=False), nn.Linear(mlp, d, bias=False)

    @staticmethod
    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def forward(s, x, cos, sin, mask):
        B, T, _ = x.shape
        h = s.rms(x, s.ln1)
        q = s.q(h).view(B, T, s.H, s.hd).transpose(1, 2)
        k = s.k(h).view(B, T, s.KV, s.hd).transpose(1, 2)
        v = s.v(h).view(B, T, s.KV, s.hd).transpose(1, 2)

        def rope(t):
            t1, t2 = t[..., : s.hd // 2], t[..., s.hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin

        q, k = rope(q), rope(k)
        k = k.repeat_interleave(s.H // s.KV, 1)
        v = v.repeat_interleave(s.H // s.KV, 1)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(s.hd) + mask
        a = torch.softmax(a, -1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(B, T, -1))
        h = s.rms(x, s.ln2)
        return x + s.down(F.silu(s.gate(h)) * s.up(h))


class LM(nn.Module):
    def __init__(s, V, d, L, H, KV, mlp):
        super().__init__()
        s.emb = nn.Embedding(V, d)
        s.blocks = nn.ModuleList([Block(d, H, KV, mlp) for _ in range(L)])
        s.lnf = nn.Parameter(torch.ones(d))
        s.head = nn.Linear(d, V, bias=False)
        hd = d // H
        s.inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))

    def forward(s, ids):
        B, T = ids.shape
        f = torch.arange(T).float()[:, None] * s.inv[None, :]
        e = torch.cat([f, f], -1)
        cos, sin = e.cos(), e.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = s.emb(ids)
        for b in s.blocks:
            x = b(x, cos, sin, mask)
        return s.head(Block.rms(x, s.lnf))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=4103)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--d-mlp", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = LM(a.vocab, a.d_model, a.layers, a.heads, a.kv_heads, a.d_mlp)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    n_params = sum(p.numel() for p in m.parameters())
    flops_per_token = 6.0 * (n_params - m.emb.weight.numel())
    total = 0.0
    for i in range(a.steps + 1):
        ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
        t0 = time.perf_counter()
        logits = m(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if i > 0:
            total += time.perf_counter() - t0
    step = total / a.steps
    tok = a.batch * a.seq
    print(json.dumps({"impl": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "params": n_params,
                      "batch": a.batch, "seq": a.seq, "step_s": step, "tokens_per_s": tok / step,
                      "gflops": tok / step * flops_per_token / 1e9, "final_loss": loss.item()}))


if __name__ == "__main__":
    main()
