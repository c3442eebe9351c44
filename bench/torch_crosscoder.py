#!/usr/bin/env python3
"""PyTorch peer for bench_train: the same crosscoder step (encode, decode, loss, backward, global
grad-norm clip, Adam) written the way the reference replication does it, dense einsums, at the
same size and with the same ~l0 sparsity regime. Prints one JSON line per architecture."""
import argparse, json, os, time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=1536)
    ap.add_argument("--dict-size", type=int, default=32768)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--l0", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    d, F, B = a.d, a.dict_size, a.batch
    x = torch.randn(B, 2, d)
    for arch in ["l1", "batchtopk"]:
        W_dec = torch.randn(F, 2, d)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True) * 0.08
        W_enc = W_dec.permute(1, 2, 0).clone()
        with torch.no_grad():
            pre = torch.einsum("bmd,mdf->bf", x[:256], W_enc)
            thr = pre.flatten().kthvalue(pre.numel() - 256 * a.l0).values
        b_enc = torch.full((F,), -float(thr))
        b_dec = torch.zeros(2, d)
        params = [t.requires_grad_() for t in (W_enc, W_dec, b_enc, b_dec)]
        opt = torch.optim.Adam(params, lr=5e-5, betas=(0.9, 0.999))

        def step():
            f = torch.relu(torch.einsum("bmd,mdf->bf", x, W_enc) + b_enc)
            norms = W_dec.norm(dim=-1).sum(-1)
            if arch == "batchtopk":
                s = (f * norms).flatten()
                keep = torch.zeros_like(s)
                keep[s.topk(a.l0 * B).indices] = 1
                f = f * keep.view(B, F)
            xh = torch.einsum("bf,fmd->bmd", f, W_dec) + b_dec
            loss = (xh - x).pow(2).sum((-1, -2)).mean()
            if arch == "l1":
                loss = loss + 2.0 * (f * norms).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return (f > 0).float().sum(-1).mean().item()

        step()  # warm-up
        t = time.time()
        for _ in range(a.steps):
            l0 = step()
        s = (time.time() - t) / a.steps
        print(json.dumps({"impl": "pytorch " + torch.__version__, "arch": arch, "threads": torch.get_num_threads(),
                          "l0": round(l0, 1), "step_s": round(s, 3), "tok_s": round(B / s, 1)}), flush=True)


if __name__ == "__main__":
    main()
