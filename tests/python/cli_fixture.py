"""Shared by the pytest suites: the CLI as a function, and a small organism store with one
crosscoder per architecture (and, when asked, an analysis of the L1 one). Environment:
CROSSCODER_BIN (the binary) and CROSSCODER_SOURCE (the repository)."""
import os
import subprocess

SRC = os.environ["CROSSCODER_SOURCE"]
BIN = os.environ["CROSSCODER_BIN"]
BASE = os.path.join(SRC, "organism", "base")
DISTILLED = os.path.join(SRC, "organism", "distilled")


def cli(*args, env=None):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, errors="replace", env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def train_small(root, archs=("l1", "batchtopk"), analyse=False):
    """root/store (6,000 rows at layer 2, 20% held out), root/ARCH (128 features), root/analysis."""
    store = os.path.join(root, "store")
    cli("harvest", "--base", BASE, "--distilled", DISTILLED, "--corpus", os.path.join(SRC, "data/general_text/text@1"),
        "--tokens", "6000", "--seq-len", "128", "--batch-seqs", "8", "--hook", "2", "--eval-fraction", "0.2",
        "--store-dtype", "f32", "--out", store, "--quiet")
    out = {"store": store}
    for arch in archs:
        out[arch] = os.path.join(root, arch)
        cli("train", "--acts", store, "--out", out[arch], "--arch", arch, "--dict-size", "128", "--k", "8", "--batch-size", "256",
            "--tokens", "60000", "--threshold-start", "20", "--quiet")
    if analyse:
        out["analysis"] = os.path.join(root, "analysis")
        cli("analyze", "--crosscoder", out[archs[0]], "--acts", store, "--out", out["analysis"], "--quiet")
    return out
