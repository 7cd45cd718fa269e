"""Checkpoint faults that used to load damaged weights, lose work or surface raw errors (issue 17)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelib.checkpoint import CheckpointError, _pack, load_checkpoint, save_checkpoint
from vaelib.models import VAE


def _tiny(seed=0):
    torch.manual_seed(seed)
    return VAE(2, hidden=(4,), image_shape=(1, 3, 3))


def _assert_same_weights(a, b):
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_a_flipped_byte_in_the_middle_is_detected(tmp_path):
    path = save_checkpoint(_tiny(), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(_flip(data, len(data) // 2))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


def test_a_flipped_byte_anywhere_is_detected(tmp_path):
    good = save_checkpoint(_tiny(), tmp_path / "good.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    positions = sorted({0, len(good) - 1, *np.linspace(0, len(good) - 1, 400).astype(int).tolist()})
    undetected = []
    for i in positions:
        bad.write_bytes(_flip(good, i))
        try:
            load_checkpoint(bad)
        except CheckpointError:
            continue
        undetected.append(i)
    assert not undetected, f"{len(undetected)} of {len(positions)} flipped bytes loaded silently, e.g. {undetected[:5]}"


def test_an_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(path)


REFUSED = object()
EXTRA_CASES = {  # what is passed, and what loads back (or REFUSED: save_checkpoint refuses it)
    "numpy float": (np.float64(98.5), 98.5),
    "numpy float32": (np.float32(0.25), 0.25),
    "numpy int": (np.int64(3), 3),
    "numpy bool": (np.bool_(True), True),
    "numpy array": (np.arange(3.0), REFUSED),
    "path": (Path("/tmp/run"), REFUSED),
    "object": (object(), REFUSED),
    "set": ({1, 2}, {1, 2}),
    "nested numpy": ({"scores": [np.float64(1.5), {"best": np.int32(2)}]}, {"scores": [1.5, {"best": 2}]}),
    "tuple": ((1, "a", None), (1, "a", None)),
    "tensor": (torch.arange(4), torch.arange(4)),
    "non-finite float": (float("nan"), float("nan")),
    "number keys": ({1: "one", 2.5: None}, {1: "one", 2.5: None}),
}


@pytest.mark.parametrize("name", list(EXTRA_CASES))
def test_extra_values_that_save_accepts_load_back(tmp_path, name):
    value, expected = EXTRA_CASES[name]
    if expected is REFUSED:
        with pytest.raises(TypeError, match=r"extra\['v'\]"):  # names the entry
            save_checkpoint(_tiny(), tmp_path / "m.pt", extra={"v": value})
        assert not list(tmp_path.iterdir())  # refused up front: nothing written
        return
    path = save_checkpoint(_tiny(), tmp_path / "m.pt", extra={"v": value})
    _, extra = load_checkpoint(path, return_extra=True)  # whatever save accepts must load
    if isinstance(expected, torch.Tensor):
        assert torch.equal(extra["v"], expected)
    else:
        assert repr(extra["v"]) == repr(expected)  # repr: equal values of the same plain types


def test_numpy_scalars_are_kept_as_numbers_and_paths_are_refused_with_a_hint(tmp_path):
    path = save_checkpoint(_tiny(), tmp_path / "m.pt",
                           extra={"nll": np.float64(98.5), "epoch": np.int64(3)})
    _, extra = load_checkpoint(path, return_extra=True)
    assert extra == {"nll": 98.5, "epoch": 3} and type(extra["epoch"]) is int
    with pytest.raises(TypeError, match=r"extra\['where'\].*str\("):
        save_checkpoint(_tiny(), tmp_path / "n.pt", extra={"where": Path("/tmp")})
    with pytest.raises(TypeError, match=r"extra\['a'\]\[1\].*tolist"):
        save_checkpoint(_tiny(), tmp_path / "n.pt", extra={"a": [1, np.zeros(2)]})


def _repacked(model, path, **changes):
    """A file with a valid header and checksum around a payload that save_checkpoint would not write."""
    payload = {"format": "vaelib-checkpoint-2", "model": type(model).__name__,
               "config": dict(model.config),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": {}}
    payload.update(changes)
    payload = {k: v for k, v in payload.items() if v is not None}
    path.write_bytes(_pack(payload))
    return path


def test_a_dict_without_the_expected_keys_is_a_clear_error(tmp_path):
    path = _repacked(_tiny(), tmp_path / "m.pt", state_dict=None, config=None)
    with pytest.raises(CheckpointError, match="lacks.*'config'.*'state_dict'"):
        load_checkpoint(path)
    path = _repacked(_tiny(), tmp_path / "n.pt", config=[2, 4])
    with pytest.raises(CheckpointError, match="'config' should be a dict"):
        load_checkpoint(path)
    path = _repacked(_tiny(), tmp_path / "o.pt", format="vaelib-checkpoint-1")
    with pytest.raises(CheckpointError, match="not written by vaelib.save_checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_without_the_header_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "vaelib-checkpoint-1", "model": "VAE"}, path)  # a bare torch.save
    with pytest.raises(CheckpointError, match="not written by vaelib.save_checkpoint.*save_checkpoint"):
        load_checkpoint(path)
    damaged = save_checkpoint(_tiny(), tmp_path / "m.pt")
    damaged.write_bytes(damaged.read_bytes().replace(b"sha256:", b"sha257:", 1))
    with pytest.raises(CheckpointError, match="header is damaged"):
        load_checkpoint(damaged)


_KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from vaelib.checkpoint import save_checkpoint
    from vaelib.models import VAE

    def dies(fd):  # killed with the temporary file written but not yet renamed
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer or `kill -9` would

    os.fsync = dies
    save_checkpoint(VAE(2, hidden=(4,), image_shape=(1, 3, 3)), sys.argv[1])
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_killed_save_leaves_no_temporary_files_behind_after_the_next_save(tmp_path):
    target = tmp_path / "m.pt"
    done = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target)], capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert not target.exists()
    assert len(list(tmp_path.glob(".m.pt.*.tmp"))) == 1  # the killed process could not clean up
    # The next save of the same file does.
    model = _tiny()
    save_checkpoint(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    _assert_same_weights(model, load_checkpoint(target))


def test_a_save_in_progress_elsewhere_keeps_its_temporary_file(tmp_path):
    import socket

    # A temporary file of a process that is still alive (this one) is another save in progress.
    live = tmp_path / f".m.pt.{socket.gethostname()}-{os.getpid()}.abcd1234.tmp"
    live.write_bytes(b"being written")
    save_checkpoint(_tiny(), tmp_path / "m.pt")
    assert live.exists()


@pytest.mark.parametrize("device,message", [
    ("banana", "device='banana' is not a device"),
    ("cuda:99", "cuda:99"),
])
def test_a_bad_device_is_the_library_s_own_error(tmp_path, device, message):
    path = save_checkpoint(_tiny(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path, device=device)


def test_auto_device_and_default_cpu(tmp_path):
    path = save_checkpoint(_tiny(), tmp_path / "m.pt")
    assert next(load_checkpoint(path).parameters()).device.type == "cpu"
    assert next(load_checkpoint(path, device=None).parameters()).device.type == "cpu"
    load_checkpoint(path, device="auto")  # whatever this machine has
