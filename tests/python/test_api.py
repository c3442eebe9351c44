"""The Python API against independent references: the CLI's own dumps, the numpy store reader,
the numpy crosscoder formula of docs/CROSSCODER.md, and dictionary_learning's forward re-written in
torch from its source. Run by ctest (Python.Api) with PYTHONPATH=build/python,
CROSSCODER_BIN=build/crosscoder and CROSSCODER_SOURCE=the repository."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import crosscoder as cc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_fixture import BASE, BIN, SRC, cli, train_small  # noqa: E402
from safetensors_np import load as load_safetensors  # noqa: E402  (the numpy-only reader)

TEXT = "Wait, let me check the sum again: 3 + 4 = 7."


@pytest.fixture(scope="session")
def model():
    return cc.Model(BASE)


@pytest.fixture(scope="session")
def tok():
    return cc.Tokenizer(BASE)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A small store of the organism pair at layer 2 and one crosscoder of each architecture on it."""
    return train_small(str(tmp_path_factory.mktemp("trained")))


# --- engine ---------------------------------------------------------------------------------------

def test_forward_and_cache_equal_the_cli_dumps(model, tok, tmp_path):
    ids = tok.encode(TEXT)
    cli("forward", "--model", BASE, "--token-ids", ",".join(map(str, ids)), "--dump-logits", str(tmp_path / "l.npy"),
        "--dump-resid", f"2:{tmp_path / 'r2.npy'}", "--dump-resid", f"blocks.3.hook_resid_post:{tmp_path / 'r4.npy'}")
    logits, cache = model.run_with_cache(ids, names=["blocks.2.hook_resid_pre", "blocks.3.hook_resid_post"])
    assert logits.shape == (len(ids), model.cfg["vocab_size"])
    np.testing.assert_array_equal(logits, np.load(tmp_path / "l.npy"))
    np.testing.assert_array_equal(cache["blocks.2.hook_resid_pre"], np.load(tmp_path / "r2.npy"))
    np.testing.assert_array_equal(cache["blocks.3.hook_resid_post"], np.load(tmp_path / "r4.npy"))
    np.testing.assert_array_equal(model.forward(ids), logits)


def test_batch_of_two_equals_each_alone(model, tok):
    a, b = tok.encode("The cat sat on the mat."), tok.encode("Let me verify this step.")
    n = min(len(a), len(b))
    both = model.forward(np.stack([a[:n], b[:n]]))
    assert both.shape == (2, n, model.cfg["vocab_size"])
    np.testing.assert_allclose(both[1], model.forward(b[:n]), rtol=0, atol=1e-4)


def test_stop_at_returns_the_site_without_logits(model, tok):
    ids = tok.encode(TEXT)
    logits, cache = model.run_with_cache(ids, names=["blocks.2.hook_resid_pre"], stop_at="blocks.2.hook_resid_pre")
    assert logits is None
    _, full = model.run_with_cache(ids)
    np.testing.assert_array_equal(cache["blocks.2.hook_resid_pre"], full["blocks.2.hook_resid_pre"])
    assert sorted(full) == sorted(model.hook_names) and len(full) == model.cfg["n_layers"] + 1


def test_hooks_read_and_edit_the_stream(model, tok):
    ids = tok.encode(TEXT)
    plain = model.forward(ids)
    seen = []
    np.testing.assert_array_equal(model.forward(ids, hooks={"blocks.1.hook_resid_pre": lambda r: seen.append(r.copy())}), plain)
    assert seen[0].shape == (len(ids), model.cfg["d_model"])
    # RMSNorm(0) = 0 and the unembedding has no bias: a zeroed final stream gives logits of exactly 0.
    zero_last = model.forward(ids, hooks={model.hook_names[-1]: lambda r: np.zeros_like(r)})
    assert not zero_last.any()
    # In place works too: a zeroed embedding leaves nothing that depends on the tokens.
    def zero_in_place(r):
        r[:] = 0
    other = tok.encode("Completely different words here, seven of them at least, and then some more.")
    n = min(len(ids), len(other))
    x = model.forward(ids[:n], hooks={"blocks.0.hook_resid_pre": zero_in_place})
    y = model.forward(other[:n], hooks={"blocks.0.hook_resid_pre": zero_in_place})
    assert (ids[:n] != other[:n]).any()
    np.testing.assert_array_equal(x, y)
    assert np.abs(x - model.forward(ids[:n])).max() > 1.0


def test_generate_equals_the_cli_and_steering_changes_it(model, tok, trained):
    ids = tok.encode("The answer is")
    out = model.generate(ids, max_new_tokens=12)
    printed = cli("generate", "--model", BASE, "--token-ids", ",".join(map(str, ids)), "--max-new-tokens", "12")
    assert len(out) > 0 and printed.startswith(tok.decode(list(out)) + f"\n{len(out)} tokens")
    steered = model.generate(ids, max_new_tokens=12, steer=[(trained["l1"], 0, 200.0)])
    assert list(steered) != list(out)


# --- tokenizer ------------------------------------------------------------------------------------

def test_tokenizer_matches_the_cli(tok):
    ids = tok.encode(TEXT)
    assert ",".join(map(str, ids)) in cli("tokenize", "--tokenizer", BASE, "--text", TEXT)
    assert tok.decode(list(ids), skip_special_tokens=True) == TEXT
    chat = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], template="chatml")
    assert chat.startswith("<|im_start|>system\nYou are Qwen") and chat.endswith("<|im_start|>assistant\n")
    r1 = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], template="r1-distill")
    assert r1.endswith("<｜Assistant｜><think>\n")


# --- store and crosscoder -------------------------------------------------------------------------

def test_store_rows_equal_the_numpy_reader(trained):
    store = cc.ActivationStore(trained["store"])
    manifest = json.load(open(os.path.join(trained["store"], "manifest.json")))
    first = load_safetensors(os.path.join(trained["store"], manifest["shards"][0]["file"]))
    n = min(100, len(first["acts"]))
    rows = store.rows(0, n)
    np.testing.assert_array_equal(rows["acts"], first["acts"][:n])
    np.testing.assert_array_equal(rows["tokens"], first["tokens"][:n])
    assert len(store) == sum(s["rows"] for s in manifest["shards"]) and store.norm_factors == pytest.approx(manifest["norm_factors"])
    batches = list(store.batches(256, seed=3, split="train"))
    assert batches and all(b.shape == (256, 2, store.d_model) for b in batches)
    held_out = sum(store.rows(0, len(store))["held_out"])
    assert 0 < held_out < len(store)
    assert len(batches) == (len(store) - held_out) // 256


def numpy_crosscoder(ckpt, acts):
    """docs/CROSSCODER.md's formula, with the numpy-only reader."""
    w = load_safetensors(os.path.join(ckpt, "crosscoder.safetensors"))
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    x = acts.astype(np.float64) * np.array(cfg["norm_factors"])[None, :, None]
    f = np.maximum(np.einsum("bmd,mdf->bf", x, w["W_enc"]) + w["b_enc"], 0)
    if cfg["architecture"] == "batchtopk":
        f = np.where(f * np.linalg.norm(w["W_dec"], axis=-1).sum(-1) > cfg["threshold"], f, 0)
    return f, np.einsum("bf,fmd->bmd", f, w["W_dec"]) + w["b_dec"]


@pytest.mark.parametrize("arch", ["l1", "batchtopk"])
def test_encode_decode_equal_the_numpy_formula(trained, arch):
    xc = cc.Crosscoder.load(trained[arch])
    acts = cc.ActivationStore(trained["store"]).rows(0, 200)["acts"]
    f_ref, xhat_ref = numpy_crosscoder(trained[arch], acts)
    f = xc.encode(acts)
    assert (f > 0).sum() > 0
    np.testing.assert_allclose(f, f_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xc.decode(f), xhat_ref, rtol=1e-4, atol=1e-3)
    nrn = xc.nrn()
    norms = np.linalg.norm(xc.W_dec, axis=-1)
    np.testing.assert_allclose(nrn, norms[:, 1] / norms.sum(1), rtol=1e-5)
    assert xc.W_enc.shape == (2, xc.d_model, xc.dict_size) and xc.architecture == arch


def test_read_analysis(trained, tmp_path):
    cli("analyze", "--crosscoder", trained["l1"], "--acts", trained["store"], "--out", str(tmp_path / "an"))
    table = cc.read_analysis(str(tmp_path / "an"))
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert len(rows) == 128 and {"nrn", "class", "freq"} <= set(rows[0])


# --- dictionary_learning interop ------------------------------------------------------------------

def dictionary_learning_encode(sd, x):
    """CrossCoderEncoder + BatchTopKCrossCoder.encode (use_threshold=True), CROSSCODER code
    normalisation, as dictionary_learning's dictionary.py writes them, in torch."""
    import torch
    enc = torch.nn.Module()
    enc.weight = torch.nn.Parameter(torch.empty(sd["encoder.weight"].shape))
    enc.bias = torch.nn.Parameter(torch.empty(sd["encoder.bias"].shape))
    dec = torch.nn.Module()
    dec.weight = torch.nn.Parameter(torch.empty(sd["decoder.weight"].shape))
    dec.bias = torch.nn.Parameter(torch.empty(sd["decoder.bias"].shape))
    module = torch.nn.Module()
    module.encoder, module.decoder = enc, dec
    module.register_buffer("code_normalization_id", torch.tensor(0))
    if "k" in sd:
        module.register_buffer("k", torch.tensor(0, dtype=torch.int))
        module.register_buffer("threshold", torch.tensor(-1.0))
    module.load_state_dict(sd, strict=True)  # its names, shapes and buffers, nothing more or less
    x = torch.from_numpy(x)
    f = torch.relu(torch.einsum("bld, ldf -> blf", x, enc.weight).sum(dim=1) + enc.bias)
    if "k" in sd:
        code_norm = dec.weight.norm(dim=2).sum(dim=0, keepdim=True)
        f = f * (f * code_norm > module.threshold)
    x_hat = torch.einsum("bf, lfd -> bld", f, dec.weight) + dec.bias
    return f.detach().numpy(), x_hat.detach().numpy()


@pytest.mark.parametrize("arch", ["l1", "batchtopk"])
def test_export_to_dictionary_learning_gives_the_same_features(trained, arch, tmp_path):
    out = str(tmp_path / "dl")
    cli("export", "--to", "dictionary_learning", trained[arch], out)
    sd = cc.dictionary_learning_state_dict(out)
    side = json.load(open(os.path.join(out, "crosscoder_cpp.json")))
    xc = cc.Crosscoder.load(trained[arch])
    acts = cc.ActivationStore(trained["store"]).rows(0, 300)["acts"]
    x = (acts * np.array(side["norm_factors"], dtype=np.float32)[None, :, None]).astype(np.float32)
    f_dl, xhat_dl = dictionary_learning_encode(sd, x)
    f = xc.encode(acts)
    assert (f > 0).sum() > 0 and int(sd["code_normalization_id"]) == 1
    np.testing.assert_allclose(f_dl, f, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xhat_dl, xc.decode(f), rtol=1e-4, atol=1e-3)
    assert ((f_dl > 0) == (f > 0)).mean() > 0.999


@pytest.mark.parametrize("arch", ["l1", "batchtopk"])
def test_export_import_round_trip_is_exact(trained, arch, tmp_path):
    cli("export", "--to", "dictionary_learning", trained[arch], str(tmp_path / "dl"))
    cli("import", "--from", "dictionary_learning", str(tmp_path / "dl"), str(tmp_path / "back"))
    a = load_safetensors(os.path.join(trained[arch], "crosscoder.safetensors"))
    b = load_safetensors(str(tmp_path / "back" / "crosscoder.safetensors"))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert json.load(open(os.path.join(trained[arch], "config.json"))) == json.load(open(tmp_path / "back" / "config.json"))
    # From a torch state dict (as torch.load gives one) without our sidecar: the same weights.
    sd = cc.dictionary_learning_state_dict(str(tmp_path / "dl"))
    cc.write_dictionary_learning(sd, str(tmp_path / "dl2"), norm_factors=cc.Crosscoder.load(trained[arch]).norm_factors)
    cli("import", "--from", "dictionary_learning", str(tmp_path / "dl2"), str(tmp_path / "back2"))
    c = load_safetensors(str(tmp_path / "back2" / "crosscoder.safetensors"))
    for name in a:
        np.testing.assert_array_equal(a[name], c[name])


def test_import_refuses_what_it_cannot_express(trained, tmp_path):
    sd = {k: v.numpy() for k, v in cc.dictionary_learning_state_dict(_export(trained, tmp_path)).items()}
    sd["code_normalization_id"] = np.array(2, dtype=np.int64)  # SAE normalisation
    cc.write_dictionary_learning(sd, str(tmp_path / "sae"))
    r = subprocess.run([BIN, "import", "--from", "dictionary_learning", str(tmp_path / "sae"), str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "code_normalization_id" in r.stderr and "model.safetensors" in r.stderr


def _export(trained, tmp_path):
    out = str(tmp_path / "dl")
    cli("export", "--to", "dictionary_learning", trained["batchtopk"], out)
    return out


# --- errors and threads ---------------------------------------------------------------------------

def test_errors_are_python_exceptions_with_the_message(model, tmp_path):
    with pytest.raises(cc.Error) as e:
        cc.Model(str(tmp_path / "nowhere"))
    assert "nowhere" in str(e.value) and isinstance(e.value, ValueError)
    with pytest.raises(cc.Error, match="outside the model's vocabulary"):
        model.forward([1, 2, 10**7])
    with pytest.raises(cc.Error, match="not a hook name"):
        model.forward([1, 2], hooks={"mlp.3": lambda r: None})
    with pytest.raises(cc.Error, match="wrong number of rows|wrong shape"):
        model.forward([1, 2, 3], hooks={"blocks.1.hook_resid_pre": lambda r: r[:1]})
    with pytest.raises(ZeroDivisionError):
        model.forward([1, 2, 3], hooks={"blocks.1.hook_resid_pre": lambda r: 1 / 0})
    np.testing.assert_array_equal(model.forward([1, 2, 3]), model.forward([1, 2, 3]))  # still usable
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "crosscoder.safetensors").write_bytes(b"\x05\x00")
    (tmp_path / "bad" / "config.json").write_text('{"d_in": 4, "dict_size": 8}')
    with pytest.raises(cc.Error) as e:
        cc.Crosscoder.load(str(tmp_path / "bad"))
    assert "crosscoder.safetensors" in str(e.value) and e.value.file.endswith("crosscoder.safetensors")


def test_two_python_threads_at_once(model, tok):
    texts = ["The cat sat on the mat.", "Wait, let me verify: 12 * 3 = 36."]
    want = [model.forward(tok.encode(t)) for t in texts]
    got, errors = {}, []

    def work(i):
        try:
            for _ in range(3):
                got[i] = model.forward(tok.encode(texts[i]), hooks={"blocks.1.hook_resid_pre": lambda r: None})
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(2):
        np.testing.assert_array_equal(got[i], want[i])


def test_quickstart_runs(trained):
    r = subprocess.run([sys.executable, os.path.join(SRC, "examples", "quickstart.py"), "--crosscoder", trained["l1"]],
                       capture_output=True, text=True, errors="replace")
    assert r.returncode == 0, r.stderr
    assert "top features at the last token" in r.stdout and "steered with feature" in r.stdout
