#!/usr/bin/env python3
"""Projected wall time of the paper configs on a cluster (docs/CLUSTER.md). A projection, not a
measurement: it scales rates measured on one 2-core machine by core count, linearly, and adds a
communication model of feature-parallel training. Every input is a flag; the defaults are the
measured figures docs/CLUSTER.md cites.

    python3 bench/project_cluster.py [--nodes 8] [--cores 64] [--link-gbs 12.5]
"""
import argparse
import math

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--nodes", type=int, default=8, help="machines, one rank each")
p.add_argument("--cores", type=int, default=64, help="cores per machine")
p.add_argument("--link-gbs", type=float, default=12.5, help="network bandwidth per link, GB/s (100 Gb/s InfiniBand: 12.5)")
# Measured on 2 cores (docs/PERFORMANCE.md, docs/REPRODUCE.md).
p.add_argument("--harvest-rows-s", type=float, default=56.9, help="1.5B harvest rows/s on 2 cores, exact bf16")
p.add_argument("--step-l1-s", type=float, default=7.49, help="L1 step at d 1536, F 32768, batch 4096 on 2 cores")
p.add_argument("--step-topk-s", type=float, default=8.11, help="BatchTopK step, same shape")
p.add_argument("--rest-h", type=float, default=18.0, help="analyze + ablate + steer at 1.5B on 2 cores, hours")
a = p.parse_args()

speedup = a.nodes * a.cores / 2  # linear in cores: the assumption that makes this a projection
link = a.link_gbs * 1e9
# (name, d, non-embedding params relative to 1.5B, harvest rows)
configs = [("paper-1.5b", 1536, 1.0, 40e6), ("paper-7b", 3584, 5.0, 20e6), ("paper-14b", 5120, 10.1, 20e6)]
F, tokens = 32768, 400e6


def train_hours(step_2core_s, d, B):
    """Steps x (compute spread over every core + decode pipeline and broadcast of [B, 2d] floats)."""
    compute = step_2core_s * (d / 1536) * (B / 4096) / speedup
    matrix = B * 2 * d * 4
    comm = matrix / link + matrix * math.ceil(math.log2(max(2, a.nodes))) / link if a.nodes > 1 else 0.0
    return tokens / B * (compute + comm) / 3600, compute, comm


print(f"projection: {a.nodes} nodes x {a.cores} cores, {a.link_gbs} GB/s links, rates x{speedup:.0f} of 2 cores")
print("| config | harvest | train-l1 (step: compute + comm) | train-batchtopk | the rest (rank 0) | total |")
print("|---|---|---|---|---|---|")
for name, d, fwd, rows in configs:
    harvest = rows / (a.harvest_rows_s / fwd * speedup) / 3600
    l1, l1c, l1m = train_hours(a.step_l1_s, d, 4096)
    tk, _, _ = train_hours(a.step_topk_s, d, 2048)
    rest = a.rest_h * fwd / (a.cores / 2)  # one machine's cores
    total = harvest + l1 + tk + rest
    print(f"| {name} | {harvest:.1f} h | {l1:.1f} h ({1e3 * l1c:.0f} + {1e3 * l1m:.0f} ms) | {tk:.1f} h | {rest:.1f} h | {total:.1f} h |")
