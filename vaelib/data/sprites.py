"""Sprites with known factors of variation: a procedural stand-in for dSprites.

dSprites (Matthey, Higgins, Hassabis and Lerchner, 2017, https://github.com/deepmind/dsprites-dataset,
Apache-2.0) holds 737,280 binary 64x64 images of one white shape on black, made from five
independent factors: shape {square, ellipse, heart}, scale (6 values in [0.5, 1]), orientation
(40 values in [0, 2π]) and position x and y (32 values each in [0, 1]). Because every factor is
known for every image, it is the standard test bed for disentanglement. This module draws images
of the same kind (vectorised, on any torch device), so the course needs no download; the real
``.npz``, when a reader has it, is read by :mod:`vaelib.data.dsprites_file`.

The geometry of the published shapes is not documented, so this generator uses its own.
Distances are in units of r = ``scale * R_MAX * size`` pixels, measured from the shape's centre,
and every shape fits inside the circle of radius r, at any orientation:

- square: ``max(|u|, |v|) <= 1/sqrt(2)`` (corners on the circle), area 2.00 r²;
- ellipse: ``u² + (v / 0.5)² <= 1`` (2:1 axes, long axis horizontal at orientation 0), area 1.57 r²;
- heart: ``(X² + Y² - 1)³ <= X² Y³`` with ``X = 1.2935 u`` and ``Y = 1.2935 v + 0.2935``: a
  classic heart curve, tip down at orientation 0, moved so its centroid is the centre and shrunk
  so its tip (the farthest point) touches the circle, area 2.19 r².

With ``R_MAX = 0.25`` the largest square is 11 pixels wide in a 32x32 image and the smallest 6,
large enough for its orientation to show (see :func:`sprite_factors` for the default grid).

Orientation turns the shape counter-clockwise about its centre as seen in the image. Position
(0, 0) puts the centre ``R_MAX * size`` pixels from the left and top edges, (1, 1) the same
distance from the right and bottom edges, so no shape is ever cut off; ``posY`` grows downwards.

Rasterisation has no anti-aliasing: each pixel is sampled at ``supersample**2`` points and is 1
when most of them fall inside the shape (an odd count, so there are no ties), else 0.

Symmetries: a square looks the same after a quarter turn, an ellipse after a half turn, and the
published grid has both 0 and 2π. Such orientations render *identical* images here (the angle
is reduced modulo the shape's symmetry before drawing); :func:`equivalent_orientations` and
:meth:`SpriteSet.canonical_factor_indices` say which ones they are.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import integer

__all__ = [
    "SHAPES", "FACTOR_NAMES", "R_MAX", "SYMMETRY_PERIOD",
    "SpriteFactors", "SpriteSet", "sprite_factors", "dsprites_factors", "make_sprites",
    "equivalent_orientations",
]

SHAPES = ("square", "ellipse", "heart")  # dSprites' order; its shape values are 1, 2, 3
FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
R_MAX = 0.25  # radius of the circle around a scale-1 shape, as a fraction of the image side
SYMMETRY_PERIOD = {"square": math.pi / 2, "ellipse": math.pi, "heart": 2 * math.pi}  # radians

_ELLIPSE_MINOR = 0.5
_HEART_CENTROID_Y = 0.2935  # centroid of the heart curve's interior (numerical integration)
_HEART_RADIUS = 1.0 + _HEART_CENTROID_Y  # distance from the centroid to the tip, the farthest point
_ELEMENTS_PER_CHUNK = 2**22  # sample points evaluated at once: bounds the renderer's memory
_TWO_PI = 2 * math.pi


# ------------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class SpriteFactors:
    """The values each factor takes; the images are their Cartesian product.

    Attributes:
        shapes: shape names, a subset of :data:`SHAPES`.
        scales: size multipliers in (0, 1].
        orientations: angles in radians, counter-clockwise.
        pos_x, pos_y: positions in [0, 1] (0 is left / top, 1 right / bottom).
    """

    shapes: tuple[str, ...]
    scales: tuple[float, ...]
    orientations: tuple[float, ...]
    pos_x: tuple[float, ...]
    pos_y: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("shapes", "scales", "orientations", "pos_x", "pos_y"):  # lists -> tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown or len(set(self.shapes)) != len(self.shapes):
            raise ValueError(f"shapes={self.shapes!r}: use distinct names from {SHAPES}.")
        for name, vals in zip(FACTOR_NAMES, self.values, strict=True):
            if len(vals) == 0 or not np.all(np.isfinite(vals)):
                raise ValueError(f"factor {name!r} needs at least one finite value, got {vals!r}.")
        if min(self.scales) <= 0 or max(self.scales) > 1:
            raise ValueError(f"scales must lie in (0, 1] (1 is the largest shape that fits), got {self.scales}.")
        for name, vals in (("pos_x", self.pos_x), ("pos_y", self.pos_y)):
            if min(vals) < 0 or max(vals) > 1:
                raise ValueError(f"{name} must lie in [0, 1], got {vals}.")

    @property
    def names(self) -> tuple[str, ...]:
        return FACTOR_NAMES

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of values of each factor, in the order of :data:`FACTOR_NAMES`."""
        return tuple(len(v) for v in self.values)

    @property
    def values(self) -> tuple[np.ndarray, ...]:
        """Each factor's values; a shape's value is its dSprites code (1 square, 2 ellipse, 3 heart)."""
        codes = np.array([SHAPES.index(s) + 1 for s in self.shapes], dtype=np.float64)
        return (codes, *(np.asarray(v, dtype=np.float64)
                         for v in (self.scales, self.orientations, self.pos_x, self.pos_y)))

    def __len__(self) -> int:
        return math.prod(self.sizes)

    def values_at(self, indices: np.ndarray) -> np.ndarray:
        """Factor values of index rows: (N, 5) int -> (N, 5) float64."""
        indices = np.asarray(indices)
        return np.stack([v[indices[:, k]] for k, v in enumerate(self.values)], axis=1)


def _spaced(arg, name: str, lo: float, hi: float, endpoint: bool) -> tuple[float, ...]:
    if isinstance(arg, (bool, numbers.Integral)):  # a count of values (True is refused there)
        count = integer(name, arg, at_least=1, advice="Give a number of values or a sequence of values.")
        if count == 1 and endpoint:
            return ((lo + hi) / 2,)  # one value: the middle of the range, not its start
        return tuple(np.linspace(lo, hi, count, endpoint=endpoint).tolist())
    try:
        return tuple(float(v) for v in np.asarray(arg, dtype=np.float64).ravel())
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}={arg!r}: give a positive number of values or a sequence of numbers.") from err


def sprite_factors(*, shapes: Sequence[str] = SHAPES, scales: int | Sequence[float] = 4,
                   orientations: int | Sequence[float] = 8,
                   positions: int | Sequence[float] = 8) -> SpriteFactors:
    """A factor grid. An integer asks for that many evenly spaced values; a sequence gives them.

    Args:
        shapes: shape names from :data:`SHAPES`.
        scales: an integer k for k values from 0.5 to 1 (k = 1 gives 0.75), or the values.
        orientations: an integer k for the k angles ``2π j / k``, j = 0 .. k-1 (radians: [0, 2π)
            without repeating 0 as 2π), or the angles.
        positions: an integer k for k values from 0 to 1 (k = 1 gives 0.5), or the values; the
            same for x and y.

    The default, 3 x 4 x 8 x 8 x 8 = 6,144 images, is what trains a small conv β-VAE in minutes on
    a laptop CPU at 32x32 pixels. With 8 orientations 45° apart the square shows 2 distinct poses
    and the ellipse 4 (see :func:`equivalent_orientations`), as in dSprites, where the same
    symmetries hold.
    """
    if isinstance(shapes, str):
        shapes = (shapes,)
    pos = _spaced(positions, "positions", 0.0, 1.0, endpoint=True)
    return SpriteFactors(
        shapes=tuple(shapes),
        scales=_spaced(scales, "scales", 0.5, 1.0, endpoint=True),
        orientations=_spaced(orientations, "orientations", 0.0, _TWO_PI, endpoint=False),
        pos_x=pos, pos_y=pos,
    )


def dsprites_factors() -> SpriteFactors:
    """The published dSprites grid: 3 x 6 x 40 x 32 x 32 = 737,280 images.

    Its 40 orientations run from 0 to 2π *inclusive*, so indices 0 and 39 draw the same image.
    ``make_sprites(dsprites_factors(), size=64)`` draws all of it (12 GB as float32);
    ``n=10_000`` draws a random sample instead.
    """
    return SpriteFactors(
        shapes=SHAPES,
        scales=tuple(np.linspace(0.5, 1.0, 6).tolist()),
        orientations=tuple(np.linspace(0.0, _TWO_PI, 40).tolist()),
        pos_x=tuple(np.linspace(0.0, 1.0, 32).tolist()),
        pos_y=tuple(np.linspace(0.0, 1.0, 32).tolist()),
    )


def equivalent_orientations(orientations: Sequence[float], shape: str, *,
                            atol: float = 1e-6) -> np.ndarray:
    """Which orientations draw the same image of ``shape``.

    Args:
        orientations: angles in radians, shape (K,).
        shape: a name from :data:`SHAPES`.
        atol: angles closer than this (radians), after reduction modulo the shape's symmetry
            period, count as equal.

    Returns:
        (K,) int64: for each orientation index, the smallest index with the same image. The grid
        has no duplicates for ``shape`` exactly when this equals ``arange(K)``.
    """
    if shape not in SHAPES:
        raise ValueError(f"shape={shape!r} is unknown; use one of {SHAPES}.")
    reduced = _reduce_angle(np.asarray(orientations, dtype=np.float64), SYMMETRY_PERIOD[shape], atol)
    return np.array([int(np.flatnonzero(np.abs(reduced - a) <= atol)[0]) for a in reduced],
                    dtype=np.int64)


def _reduce_angle(theta: np.ndarray, period: float, atol: float = 1e-9) -> np.ndarray:
    reduced = np.mod(theta, period)
    reduced[np.abs(reduced - period) <= atol] = 0.0  # 2π - ε is 0 up to rounding
    return np.round(reduced, 9)  # equal up to rounding -> bit-identical, so the images match


# ---------------------------------------------------------------------------------- the images
@dataclass(frozen=True)
class SpriteSet:
    """Sprite images with their factors.

    Attributes:
        x: binary images, (N, 1, size, size) float32 of 0s and 1s.
        factors: factor values, (N, 5) float32, columns in the order of :data:`FACTOR_NAMES`
            (shape as its dSprites code 1/2/3, scale, orientation in radians, posX, posY).
        factor_indices: the same as indices into each factor's values, (N, 5) int64.
        grid: the factor values the indices refer to.
        source: where the images came from.
    """

    x: torch.Tensor
    factors: torch.Tensor
    factor_indices: torch.Tensor
    grid: SpriteFactors
    source: str

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self.grid.names

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self.grid.sizes

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: str | torch.device) -> SpriteSet:
        return SpriteSet(self.x.to(device), self.factors.to(device), self.factor_indices.to(device),
                         self.grid, self.source)

    def canonical_factor_indices(self) -> torch.Tensor:
        """``factor_indices`` with each orientation replaced by the smallest index drawing the same
        image of that shape (for a square, 90° becomes 0°), so that a metric does not ask a code
        to tell apart images that are identical. (N, 5) int64."""
        out = self.factor_indices.clone()
        orient = out[:, 2].cpu().numpy()
        shape_idx = out[:, 0].cpu().numpy()
        for s, name in enumerate(self.grid.shapes):
            rep = equivalent_orientations(self.grid.orientations, name)
            sel = shape_idx == s
            orient[sel] = rep[orient[sel]]
        out[:, 2] = torch.from_numpy(orient).to(out.device)
        return out


def make_sprites(grid: SpriteFactors | None = None, *, size: int = 32,
                 shapes: Sequence[str] | None = None, scales: int | Sequence[float] | None = None,
                 orientations: int | Sequence[float] | None = None,
                 positions: int | Sequence[float] | None = None, n: int | None = None,
                 seed: int = 0, supersample: int = 3,
                 device: str | torch.device = "cpu") -> SpriteSet:
    """Draw sprite images with known factors.

    Args:
        grid: the factor values, e.g. :func:`dsprites_factors()`; by default the grid that
            ``shapes``, ``scales``, ``orientations`` and ``positions`` describe (see
            :func:`sprite_factors`; each left as ``None`` takes its default: 3 shapes, 4 scales,
            8 orientations, 8 x 8 positions = 6,144 images).
        size: image side in pixels (at least 8).
        shapes, scales, orientations, positions: the grid, when ``grid`` is not given.
        n: ``None`` for every grid point, in row-major order (shape slowest, posY fastest, as in
            the dSprites file); an integer for that many distinct grid points drawn at random.
        seed: seeds the random draw when ``n`` is given (the images themselves have no noise).
        supersample: sample points per pixel along each axis; must be odd (no ties in the vote).
        device: where the returned tensors live (and where the drawing runs).

    Returns:
        A :class:`SpriteSet`. The default set takes well under a second on a 2-core CPU.

    Raises:
        ValueError: both ``grid`` and grid arguments, or a bad size, n, seed or supersample.
    """
    given = {k: v for k, v in dict(shapes=shapes, scales=scales, orientations=orientations,
                                    positions=positions).items() if v is not None}
    if grid is not None and given:
        raise ValueError(f"Pass either grid= or the grid arguments {sorted(given)}, not both.")
    if grid is None:
        grid = sprite_factors(**given)
    elif not isinstance(grid, SpriteFactors):
        raise ValueError(f"grid must be a SpriteFactors (see sprite_factors()), got {type(grid).__name__}.")
    size = integer("size", size, at_least=8, advice="It is the image side in pixels.")
    if integer("supersample", supersample, at_least=1) % 2 == 0:
        raise ValueError(f"supersample must be odd (1, 3, 5, ...), got {supersample!r}.")
    total = len(grid)
    if n is None:
        flat = np.arange(total)
    else:
        n = integer("n", n, at_least=1, advice="Or n=None for the whole grid.")
        if n > total:
            raise ValueError(f"n={n!r}: ask for between 1 and {total:,} images (the grid's size), "
                             "or n=None for the whole grid.")
        seed = integer("seed", seed, at_least=0)
        flat = np.random.default_rng(seed).choice(total, size=n, replace=False)
    what = "whole grid" if n is None else f"{n:,} random grid points, seed {seed}"
    return _draw(grid, flat, size=size, supersample=supersample, device=torch.device(device),
                 source=f"procedural sprites ({size}x{size}, {what})")


def _draw(grid: SpriteFactors, flat: np.ndarray, *, size: int, supersample: int,
          device: torch.device, source: str) -> SpriteSet:
    idx = np.stack(np.unravel_index(flat, grid.sizes), axis=1).astype(np.int64)  # (N,) -> (N, 5)
    values = grid.values_at(idx)
    shape_names = np.array(grid.shapes)[idx[:, 0]]
    x = torch.zeros(len(flat), 1, size, size, device=device)
    for name in grid.shapes:
        rows = np.flatnonzero(shape_names == name)
        if rows.size:
            x[torch.from_numpy(rows).to(device), 0] = _render(name, values[rows], size, supersample, device)
    return SpriteSet(
        x=x,
        factors=torch.as_tensor(values, dtype=torch.float32, device=device),
        factor_indices=torch.as_tensor(idx, device=device),
        grid=grid, source=source,
    )


def _inside(name: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Is the point (u, v), in units of r from the centre, inside the upright shape?

    ``u`` and ``v`` are scratch tensors: they are overwritten (in place, to save memory traffic).
    """
    if name == "square":
        return torch.maximum(u.abs_(), v.abs_()) <= 1 / math.sqrt(2)
    if name == "ellipse":
        return u.square_().add_(v.div_(_ELLIPSE_MINOR).square_()) <= 1
    hx2 = u.mul_(_HEART_RADIUS).square_()  # the heart curve's own coordinates X², Y
    hy = v.mul_(_HEART_RADIUS).add_(_HEART_CENTROID_Y)
    hy2 = hy.square()
    lhs = (hx2 + hy2).sub_(1).pow_(3)
    return lhs <= hx2.mul_(hy2).mul_(hy)


def _render(name: str, values: np.ndarray, size: int, k: int, device: torch.device) -> torch.Tensor:
    """Draw one shape kind at the given factor values (M, 5): (M, size, size) float 0/1.

    Each shape is drawn on a small patch around its centre (the patch holds the largest shape at
    any sub-pixel offset), then pasted into a blank image: far fewer points than the whole image.
    """
    n = values.shape[0]
    r_max = R_MAX * size  # pixels
    half = math.ceil(r_max) + 1
    p = 2 * half + 1  # patch side, pixels
    cx = (R_MAX + values[:, 3] * (1 - 2 * R_MAX)) * size  # centre, pixels from the left edge
    cy = (R_MAX + values[:, 4] * (1 - 2 * R_MAX)) * size  # centre, pixels from the top edge
    x0 = np.floor(cx).astype(np.int64) - half  # the patch's first column / row
    y0 = np.floor(cy).astype(np.int64) - half
    theta = _reduce_angle(values[:, 2], SYMMETRY_PERIOD[name])
    offsets = (np.arange(p)[:, None] + (np.arange(k)[None, :] + 0.5) / k).ravel()  # (p * k,)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    out = torch.zeros(n, size + 2 * p, size + 2 * p, dtype=torch.bool, device=device)  # padded
    step = max(1, _ELEMENTS_PER_CHUNK // (p * k) ** 2)
    for s in range(0, n, step):
        sl = slice(s, min(n, s + step))
        r = values[sl, 1] * r_max
        cos = t(np.cos(theta[sl]) / r)[:, None, None]  # (B, 1, 1), per pixel of radius
        sin = t(np.sin(theta[sl]) / r)[:, None, None]
        dx = t(x0[sl, None] + offsets[None, :] - cx[sl, None])[:, None, :]  # (B, 1, pk)
        dy = t(cy[sl, None] - y0[sl, None] - offsets[None, :])[:, :, None]  # (B, pk, 1), y up
        u = torch.addcmul(dx * cos, dy, sin)  # rotate by -theta: the shape turns by +theta
        v = torch.addcmul(dy * cos, dx, sin, value=-1.0)  # (B, pk, pk), in units of r
        hits = _inside(name, u, v).view(torch.uint8)  # (B, pk, pk), 0/1
        votes = hits.view(-1, p, k, p, k).sum(dim=(2, 4), dtype=torch.uint8)  # -> (B, p, p)
        patch = votes > (k * k) // 2
        b = torch.arange(sl.start, sl.stop, device=device)[:, None, None]
        rows = torch.as_tensor(y0[sl] + p, device=device)[:, None, None] + torch.arange(p, device=device)[None, :, None]
        cols = torch.as_tensor(x0[sl] + p, device=device)[:, None, None] + torch.arange(p, device=device)[None, None, :]
        out[b, rows, cols] = patch
    return out[:, p:p + size, p:p + size].float()
