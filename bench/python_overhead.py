#!/usr/bin/env python3
"""The Python API's overhead against the CLI on the organism (docs/PYTHON.md), in one run:
  1. end to end: `crosscoder forward --dump-logits` vs a Python process doing the same
     (import, load, forward, np.save), median wall time of 5 each;
  2. per call: Model.forward on 256 tokens (all logits), median of 20, vs bench_forward's prefill
     of the same 256 tokens in C++ (last logits only, so the C++ figure does a little less work);
  3. Python hooks: a read-only Python hook at every site vs none.
Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py build"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import crosscoder as cc

build = sys.argv[1] if len(sys.argv) > 1 else "build"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model_dir = os.path.join(root, "organism", "base")
T = 256
ids = (np.arange(T) * 7919 % 4000 + 10).astype(np.int64)
tmp = tempfile.mkdtemp()


def wall(cmd, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": os.path.join(build, "python")})
        times.append(time.perf_counter() - t)
    return statistics.median(times)


cli_s = wall([os.path.join(build, "crosscoder"), "forward", "--model", model_dir, "--token-ids", ",".join(map(str, ids)),
              "--dump-logits", os.path.join(tmp, "cli.npy")])
py_s = wall([sys.executable, "-c", "import numpy as np, crosscoder as cc, sys; m = cc.Model(sys.argv[1]); "
             "np.save(sys.argv[2], m.forward(np.array(sys.argv[3].split(','), dtype=np.int64)))",
             model_dir, os.path.join(tmp, "py.npy"), ",".join(map(str, ids))])
import_s = wall([sys.executable, "-c", "import crosscoder"])

model = cc.Model(model_dir)


def per_call(fn, n=20):
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


forward_s = per_call(lambda: model.forward(ids))
hooks = {name: (lambda r: None) for name in model.hook_names}
hooked_s = per_call(lambda: model.forward(ids, hooks=hooks))
bench = subprocess.run([os.path.join(build, "bench", "bench_forward"), "--model", model_dir, "--dtype", "f32", "--batch", "1",
                        "--seq", str(T), "--decode", "4", "--skip-peak", "--decode-rows", "0"], check=True, capture_output=True, text=True)
cpp = json.loads(bench.stdout.strip().splitlines()[-1])
print(json.dumps({
    "tokens": T, "cpu": cpp["cpu"], "blas_core": cpp["blas_core"],
    "cli_forward_wall_s": round(cli_s, 4), "python_forward_wall_s": round(py_s, 4), "python_import_wall_s": round(import_s, 4),
    "python_forward_call_s": round(forward_s, 5), "cpp_prefill_call_s": cpp["prefill_s"],
    "python_forward_with_hooks_at_every_site_s": round(hooked_s, 5),
}, indent=1))
