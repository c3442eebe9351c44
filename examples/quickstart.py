#!/usr/bin/env python3
"""crosscoder.cpp from Python in five steps, on the committed model organism:
load the pair's base model, tokenize, run_with_cache at half depth, encode with a crosscoder (the
demo's L1 one by default), print the top features of a token, and steer a generation with one.

    bash scripts/demo.sh                                   # makes demo-out/crosscoder-l1
    PYTHONPATH=build/python /usr/bin/python3 examples/quickstart.py [--crosscoder DIR]

The test suite runs it on a small crosscoder of its own (tests/python/test_api.py)."""
import argparse
import os
import sys

import numpy as np

import crosscoder as cc

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--crosscoder", default=os.path.join(root, "demo-out", "crosscoder-l1"),
                    help="crosscoder checkpoint folder (default: demo-out/crosscoder-l1)")
parser.add_argument("--prompt", default="Wait, let me check that again.", help="text to look at")
args = parser.parse_args()
if not os.path.exists(os.path.join(args.crosscoder, "config.json")):
    sys.exit(f"quickstart: {args.crosscoder} holds no crosscoder; run `bash scripts/demo.sh` first or pass --crosscoder")

# 1. The organism's base model and its tokenizer (organism/base holds both).
base_dir = os.path.join(root, "organism", "base")
tok = cc.Tokenizer(base_dir)
xc = cc.Crosscoder.load(args.crosscoder)
base, distilled = cc.Model(base_dir), cc.Model(os.path.join(root, "organism", "distilled"))

# 2. Tokenize and read both models' streams at the crosscoder's hook (half depth), stopping there.
ids = tok.encode(args.prompt)
_, cache_a = base.run_with_cache(ids, names=[xc.hook], stop_at=xc.hook)
_, cache_b = distilled.run_with_cache(ids, names=[xc.hook], stop_at=xc.hook)
acts = np.stack([cache_a[xc.hook], cache_b[xc.hook]], axis=1)  # [T, 2, d]: the store's layout
print(f"{len(ids)} tokens; {xc.hook}: acts {acts.shape}; crosscoder {xc.architecture}, {xc.dict_size} features")

# 3. Encode: the features of every position (raw activations are scaled by the norm factors inside).
f = xc.encode(acts)
nrn = xc.nrn()
pos = len(ids) - 1
print(f"L0 per token: {np.mean((f > 0).sum(1)):.1f}; top features at the last token {tok.id_to_token(int(ids[pos]))!r}:")
for j in np.argsort(-f[pos])[:5]:
    if f[pos, j] > 0:
        print(f"  feature {j:5d}  activation {f[pos, j]:8.3f}  NRN {nrn[j]:.3f}")

# 4. Steer the base model's generation with the most active feature's distilled decoder direction.
top = int(np.argmax(f[pos]))
prompt = tok.encode("The answer is")
plain = base.generate(prompt, max_new_tokens=16)
steered = base.generate(prompt, max_new_tokens=16, steer=[(args.crosscoder, top, 8.0)], steer_generated_only=True)
print(f"unsteered: {tok.decode(list(plain))!r}")
print(f"steered with feature {top} (alpha 8): {tok.decode(list(steered))!r}")
