from __future__ import annotations

import hashlib
import io
import pickle

import pytest
import torch

from vaelib.checkpoint import CheckpointError, _pack, _unpack, load_checkpoint, save_checkpoint
from vaelib.models import VAE, Autoencoder


@pytest.mark.parametrize("model", [
    Autoencoder(3, hidden=(16,)),
    Autoencoder(2, arch="conv", hidden=(8,)),
    VAE(4, hidden=(16,), likelihood="gaussian", sigma=0.2, learn_sigma=True),
])
def test_round_trip_is_exact(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "m.pt", extra={"test_nll": 98.5})
    loaded, extra = load_checkpoint(path, return_extra=True)
    assert type(loaded) is type(model) and loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert extra == {"test_nll": 98.5}
    x = torch.rand(3, 1, 28, 28)
    enc = model.encode(x)
    enc2 = loaded.encode(x)
    assert torch.equal(enc[0] if isinstance(enc, tuple) else enc, enc2[0] if isinstance(enc2, tuple) else enc2)


def test_save_is_atomic_and_overwrites(tmp_path):
    model = VAE(2, hidden=(8,))
    target = tmp_path / "m.pt"
    save_checkpoint(model, target)
    save_checkpoint(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary files left


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = VAE(2, hidden=(8,))
    target = save_checkpoint(model, tmp_path / "m.pt")
    before = target.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_corrupt_and_truncated_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    good = save_checkpoint(VAE(2, hidden=(8,)), tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)


def test_plain_state_dict_is_rejected(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(VAE(2, hidden=(8,)).state_dict(), path)
    with pytest.raises(CheckpointError, match="not written by vaelib.save_checkpoint"):
        load_checkpoint(path)


def test_code_in_a_pickle_is_not_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code ran')",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "vaelib-checkpoint-2", "x": Evil()}, f)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    # Behind a valid header and checksum the pickle reaches torch.load, which must refuse it.
    body = io.BytesIO()
    torch.save({"format": "vaelib-checkpoint-2", "x": Evil()}, body)
    framed = b"vaelib-checkpoint-2\nsha256:" + hashlib.sha256(body.getvalue()).hexdigest().encode() + b"\n"
    path.write_bytes(framed + body.getvalue())
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_config(tmp_path):
    path = save_checkpoint(VAE(2, hidden=(8,)), tmp_path / "m.pt")
    payload = _unpack(path.read_bytes(), path)
    payload["config"]["hidden"] = [9]
    path.write_bytes(_pack(payload))  # a consistent file (checksum and all) with a wrong config
    with pytest.raises(CheckpointError, match="do not fit a VAE"):
        load_checkpoint(path)


def test_only_vaelib_models(tmp_path):
    with pytest.raises(TypeError, match="saves vaelib models"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")
