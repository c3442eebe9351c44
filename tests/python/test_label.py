"""`crosscoder label` against a real HTTP server on 127.0.0.1 (tests/labels/fake_openai.py) that
answers like an OpenAI-compatible server, and also with 429 + Retry-After, 500s, malformed JSON,
answers past the timeout, dropped connections, no structured-output support and a 401; a kill and a
resume; the API key in no file written; `--local` with the organism as the labeller. Run by ctest
(Labels.Http) with CROSSCODER_BIN and CROSSCODER_SOURCE."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_fixture import BASE, BIN, SRC, cli, train_small  # noqa: E402

KEY = "sk-test-7f3a9c-not-a-real-key"
FAST = ["--backoff", "0.05", "--quiet"]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    return train_small(str(tmp_path_factory.mktemp("label")), archs=("l1",), analyse=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("server")
    port_file, log = str(d / "port"), str(d / "log.jsonl")
    proc = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "labels", "fake_openai.py"), port_file, log])
    for _ in range(100):
        if os.path.exists(port_file):
            break
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{open(port_file).read()}/v1", "log": log}
    proc.terminate()
    proc.wait()


def label(analysis, server, out, model, *extra, env_key=True, check=True):
    env = {**os.environ, "TEST_LABEL_KEY": KEY} if env_key else dict(os.environ)
    args = [BIN, "label", "--analysis", analysis["analysis"], "--out", str(out), "--endpoint", server["url"], "--model", model,
            "--api-key-env", "TEST_LABEL_KEY", *FAST, *extra]
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def lines(path):
    return [json.loads(x) for x in open(path)] if os.path.exists(path) else []


def requests(server, model):
    return [r for r in lines(server["log"]) if r["model"] == model]


def test_labels_with_detection_scores_usage_and_no_key_on_disk(analysis, server, tmp_path):
    out = tmp_path / "ok"
    label(analysis, server, out, "ok", "--limit", "6", "--price-in", "0.15", "--price-out", "0.6")
    got = lines(out / "labels.jsonl")
    assert len(got) == 6 and len({g["feature"] for g in got}) == 6
    for g in got:
        assert g["label"] == "a marked-token detector" and g["category"] == "verification"
        det = g["detection"]
        assert det["positives"] > 0 and det["negatives"] > 0
        # the server always answers [1]: excerpt 1 is called activating, every other one not
        pos, neg = det["positives"], det["negatives"]
        assert (det["tpr"], det["tnr"]) in [(1.0 / pos, 1.0), (0.0, 1 - 1.0 / neg)]
        assert det["balanced_accuracy"] == pytest.approx((det["tpr"] + det["tnr"]) / 2)
    usage = json.load(open(out / "usage.json"))
    assert usage["prompt_tokens"] == sum(g["usage"]["prompt_tokens"] for g in got) > 0
    assert usage["cost"] == pytest.approx((usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.6) / 1e6)
    sent = requests(server, "ok")
    assert len(sent) == 12 and all(r["authorization"] == "Bearer " + KEY and r["schema"] for r in sent)
    assert all(r["path"] == "/v1/chat/completions" for r in sent)
    for name in os.listdir(out):
        assert KEY not in open(out / name, errors="replace").read(), name
    # the labels merge into the analysis tables (and so the report's feature browser)
    merged = tmp_path / "merged"
    cli("analyze", "--crosscoder", analysis["l1"], "--acts", analysis["store"], "--out", str(merged), "--labels", str(out / "labels.jsonl"),
        "--quiet")
    rows = {r["feature"]: r for r in lines(merged / "features.jsonl")}
    for g in got:
        row = rows[g["feature"]]
        assert (row["label"], row["label_category"], row["label_score"]) == (g["label"], g["category"], g["detection"]["balanced_accuracy"])
    # a rerun asks nothing: every feature is done
    r = label(analysis, server, out, "ok", "--limit", "6")
    assert "6 already done" in r.stdout and len(requests(server, "ok")) == 12


def test_the_cache_answers_a_rerun_into_a_fresh_labels_file(analysis, server, tmp_path):
    out = tmp_path / "cache"
    label(analysis, server, out, "delay", "--limit", "2")
    n = len(requests(server, "delay"))
    os.remove(out / "labels.jsonl")
    r = label(analysis, server, out, "delay", "--limit", "2")
    assert len(requests(server, "delay")) == n and "0 requests" in r.stdout and len(lines(out / "labels.jsonl")) == 2


def test_retries_429_with_retry_after_and_500(analysis, server, tmp_path):
    out = tmp_path / "flaky"
    t = time.time()
    label(analysis, server, out, "flaky", "--limit", "2", "--no-detection")
    assert len(lines(out / "labels.jsonl")) == 2 and not lines(out / "failed.jsonl")
    assert len(requests(server, "flaky")) == 6  # three attempts per prompt
    assert time.time() - t >= 0.2  # Retry-After was waited for


@pytest.mark.parametrize("model,why", [("malformed", "malformed JSON"), ("drop", "Server returned nothing")])
def test_bad_servers_end_in_failed_jsonl_with_the_reason(analysis, server, tmp_path, model, why):
    out = tmp_path / model
    r = label(analysis, server, out, model, "--limit", "2", "--retries", "2", "--no-detection")
    assert not lines(out / "labels.jsonl")
    failed = lines(out / "failed.jsonl")
    assert len(failed) == 2 and all(why in f["error"] and "after 3 attempts" in f["error"] for f in failed), failed
    assert "2 failed" in r.stdout


def test_a_slow_server_times_out(analysis, server, tmp_path):
    out = tmp_path / "slow"
    t = time.time()
    label(analysis, server, out, "slow", "--limit", "1", "--retries", "1", "--timeout", "0.5", "--no-detection")
    assert time.time() - t < 2.9  # it did not wait for the 3 s answer
    failed = lines(out / "failed.jsonl")
    assert len(failed) == 1 and "imeout" in failed[0]["error"]


def test_a_server_without_structured_output_and_prose_answers(analysis, server, tmp_path):
    label(analysis, server, tmp_path / "ns", "noschema", "--limit", "2", "--no-detection")
    sent = requests(server, "noschema")
    assert sent[0]["schema"] and not sent[-1]["schema"] and len(lines(tmp_path / "ns" / "labels.jsonl")) == 2
    label(analysis, server, tmp_path / "ft", "freetext", "--limit", "2")
    assert [g["category"] for g in lines(tmp_path / "ft" / "labels.jsonl")] == ["verification"] * 2


def test_401_stops_the_run_with_one_line(analysis, server, tmp_path):
    r = label(analysis, server, tmp_path / "401", "unauthorized", "--limit", "2", check=False)
    assert r.returncode != 0 and "HTTP 401" in r.stderr and "TEST_LABEL_KEY" in r.stderr and KEY not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_killed_then_resumed_loses_nothing(analysis, server, tmp_path):
    out = tmp_path / "kill"
    env = {**os.environ, "TEST_LABEL_KEY": KEY}
    args = [BIN, "label", "--analysis", analysis["analysis"], "--out", str(out), "--endpoint", server["url"], "--model", "delay",
            "--api-key-env", "TEST_LABEL_KEY", "--limit", "12", "--concurrency", "2", "--no-detection", *FAST]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(lines(out / "labels.jsonl")) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {g["feature"] for g in lines(out / "labels.jsonl")}
    assert 3 <= len(before) < 12
    with open(out / "labels.jsonl", "a") as f:
        f.write('{"feature": 99999, "label": "torn')  # what a kill mid-write would leave
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = lines(out / "labels.jsonl")
    features = [g["feature"] for g in after]
    assert len(features) == 12 == len(set(features)) and before <= set(features)


def test_local_labeller_plumbing(analysis, tmp_path):
    out = tmp_path / "local"
    r = subprocess.run([BIN, "label", "--analysis", analysis["analysis"], "--out", str(out), "--local", BASE, "--limit", "2",
                        "--max-tokens", "12", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # The organism is no instruct model: its answers are nonsense, so each feature ends labelled or
    # failed with the unreadable reply quoted, and every request went through the engine.
    done = lines(out / "labels.jsonl") + lines(out / "failed.jsonl")
    assert sorted(d["feature"] for d in done) == sorted({d["feature"] for d in done}) and len(done) == 2
    assert all("label" in d or "unreadable" in d["error"] for d in done)
    assert len(lines(out / "cache.jsonl")) >= 2
    assert json.load(open(out / "usage.json"))["this_run"]["requests"] >= 2
