"""The real dSprites file (Matthey et al., 2017), read into the same :class:`SpriteSet` as the
procedural sprites of :mod:`vaelib.data.sprites`, with clear errors for a missing, corrupt or
foreign file."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .._validation import integer
from .sprites import FACTOR_NAMES, SHAPES, SpriteFactors, SpriteSet

__all__ = ["load_dsprites_npz"]

_NPZ_KEYS = ("imgs", "latents_values", "latents_classes")


def load_dsprites_npz(path: str | os.PathLike, *, n: int | None = None, seed: int = 0,
                      device: str | torch.device = "cpu") -> SpriteSet:
    """Load the real dSprites file, ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    The file (from https://github.com/deepmind/dsprites-dataset) has six latents; the first,
    colour, takes a single value and is dropped, leaving the five of :data:`FACTOR_NAMES`.

    Args:
        path: the ``.npz`` file.
        n: ``None`` for all images (737,280 of them: about 12 GB as float32, so mind the memory),
            or that many distinct images drawn at random.
        seed: seeds the draw when ``n`` is given.
        device: where the returned tensors live.

    Returns:
        A :class:`SpriteSet` with ``x`` of shape (N, 1, 64, 64), the file's factor values and
        indices, and a ``grid`` holding each factor's distinct values.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable ``.npz``, lacks a key, or its arrays disagree.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No dSprites file at {path}. Download dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz "
            "from https://github.com/deepmind/dsprites-dataset, or use make_sprites() instead."
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .npz file (not a zip archive); download it again.")
    try:
        with np.load(path, allow_pickle=False) as archive:  # the file's 'metadata' is never read
            found = list(archive.files)
            arrays = {k: archive[k] for k in _NPZ_KEYS if k in found}
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .npz file ({err}); download it again.") from err
    missing = [k for k in _NPZ_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it has {found}. Is it the dSprites file?")
    imgs, values, classes = (arrays[k] for k in _NPZ_KEYS)
    count = imgs.shape[0] if imgs.ndim == 3 else -1
    if imgs.ndim != 3 or values.shape != (count, 6) or classes.shape != (count, 6):
        raise ValueError(
            f"{path}: expected imgs (N, H, W) and latents of shape (N, 6), got {imgs.shape}, "
            f"{values.shape} and {classes.shape}."
        )
    values, classes = values[:, 1:], classes[:, 1:].astype(np.int64)  # drop colour
    grid = _grid_from_file(values, classes, path)
    if n is None:
        rows = np.arange(count)
    else:
        n = integer("n", n, at_least=1, advice="Or n=None for all the images.")
        if n > count:
            raise ValueError(f"n={n!r}: ask for between 1 and {count:,} images, or n=None for all.")
        rows = np.sort(np.random.default_rng(integer("seed", seed)).choice(count, size=n, replace=False))
    x = imgs[rows]
    if not np.isin(x, (0, 1)).all():
        raise ValueError(f"{path}: dSprites images hold only 0s and 1s, but these do not.")
    return SpriteSet(
        x=torch.as_tensor(x, dtype=torch.float32, device=device).unsqueeze(1),  # (N, H, W) -> (N, 1, H, W)
        factors=torch.as_tensor(values[rows], dtype=torch.float32, device=device),
        factor_indices=torch.as_tensor(classes[rows], device=device),
        grid=grid, source=f"dSprites ({path.name})",
    )


def _grid_from_file(values: np.ndarray, classes: np.ndarray, path: Path) -> SpriteFactors:
    columns = []
    for k, name in enumerate(FACTOR_NAMES):
        size = int(classes[:, k].max()) + 1
        if classes[:, k].min() < 0:  # a negative index would silently wrap around below
            raise ValueError(f"{path}: factor {name!r} has negative classes.")
        col = np.full(size, np.nan)
        col[classes[:, k]] = values[:, k]
        if np.isnan(col).any():
            raise ValueError(f"{path}: the classes of factor {name!r} do not cover 0..{size - 1}.")
        columns.append(col)
    codes = columns[0].round().astype(int)
    if not set(codes) <= {1, 2, 3}:
        raise ValueError(f"{path}: shape values must be 1, 2, 3 (square, ellipse, heart), got {codes}.")
    return SpriteFactors(tuple(SHAPES[c - 1] for c in codes), *(tuple(c.tolist()) for c in columns[1:]))
