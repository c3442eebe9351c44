#!/usr/bin/env python3
"""Turns bench-out/forward.jsonl into the markdown table of docs/PERFORMANCE.md."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
checks = [r for r in rows if "check" in r]
runs = [r for r in rows if "impl" in r]
for c in checks:
    print(f"- parity ({c['dtype']}): torch vs crosscoder.cpp max relative logit difference {c['max_rel_diff']:.2e}")
print()
cpus = {r.get("cpu") for r in runs if r.get("cpu")}
if cpus:
    print("CPU flags: " + ", ".join(sorted(cpus)) + "; bf16-act GEMM: " +
          ", ".join(sorted({r["bf16_gemm"] for r in runs if r.get("bf16_gemm", "-") != "-"})))
    print()
print("| impl | dtype | prefill tok/s | prefill GFLOP/s | % of sgemm peak | vs PyTorch (prefill) | decode tok/s | decode weight GB/s (of machine read GB/s) | vs PyTorch (decode) | peak RSS GiB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    # bf16-act (BF16-rounded GEMM inputs) is what PyTorch's bf16 mode does: that is its peer.
    peer_dtype = "bf16" if r["dtype"].startswith("bf16-act") else r["dtype"]
    peer = next((p for p in runs if p["impl"].startswith("pytorch") and p["dtype"] == peer_dtype), None)
    ours = r["impl"] == "crosscoder.cpp"
    pf = f"{r['prefill_tok_s'] / peer['prefill_tok_s']:.2f}x" if ours and peer else ""
    dc = f"{r['decode_tok_s'] / peer['decode_tok_s']:.2f}x" if ours and peer else ""
    g = f"{r['prefill_gflops']:.1f}" if ours else ""
    frac = f"{100 * r['prefill_frac_of_peak']:.0f}% of {r['sgemm_peak_gflops']:.0f}" if ours else ""
    bw = f"{r['decode_weight_gb_s']:.1f} of {r.get('memory_read_gb_s', 0):.1f}" if ours else ""
    print(f"| {r['impl']} | {r['dtype']} | {r['prefill_tok_s']:.1f} | {g} | {frac} | {pf} | {r['decode_tok_s']:.2f} | {bw} | {dc} | {r['peak_rss_gib']:.2f} |")
