"""A 2-D mixture of Gaussians: the standard toy for counting which modes a generator covers.

Each mode is an isotropic Gaussian with the same small standard deviation, and all modes are
equally likely, so a perfect generator puts ``1/K`` of its samples within a few standard
deviations of each mode and almost none elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validation import integer, number, positive_int

__all__ = ["MixtureSet", "make_mixture", "LAYOUTS"]

LAYOUTS = ("grid", "ring")


@dataclass(frozen=True)
class MixtureSet:
    """Points drawn from an equal-weight mixture of isotropic 2-D Gaussians.

    Attributes:
        x: the points, (N, 2), float32.
        mode: the mode each point was drawn from, (N,) int64.
        centers: the modes' means, (K, 2).
        std: the standard deviation of every mode, in the points' units.
    """

    x: torch.Tensor
    mode: torch.Tensor
    centers: torch.Tensor
    std: float

    def __len__(self) -> int:
        return self.x.shape[0]

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        """The mixture's exact log-density at ``points`` (M, 2): nats per point, shape (M,)."""
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (M, 2), got {tuple(points.shape)}.")
        centers = self.centers.to(points.device, points.dtype)
        sq = (points[:, None, :] - centers[None]).pow(2).sum(-1)  # (M, K)
        log_comp = -sq / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(centers.shape[0])


def _centers(layout: str, modes: int, spacing: float) -> torch.Tensor:
    if layout == "grid":
        side = math.isqrt(modes)
        if side * side != modes:
            raise ValueError(f"a grid layout needs a square number of modes (9, 25, ...), got {modes}.")
        ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
        gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (K, 2)
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float32) / modes
    radius = spacing / (2 * math.sin(math.pi / modes))  # neighbours ``spacing`` apart
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def make_mixture(n: int = 20_000, *, layout: str = "grid", modes: int = 25, spacing: float = 1.0,
                 std: float = 0.05, seed: int = 0, device: str | torch.device = "cpu") -> MixtureSet:
    """Sample ``n`` points from an equal-weight mixture of ``modes`` isotropic 2-D Gaussians.

    Args:
        n: number of points.
        layout: ``"grid"`` (a square grid, centred on the origin; ``modes`` a square number) or
            ``"ring"`` (a circle around the origin).
        modes: number of mixture components K.
        spacing: distance between neighbouring modes.
        std: standard deviation of each mode; keep it well below ``spacing / 6`` so that the
            3-sigma discs of neighbouring modes do not touch.
        seed: seeds the draw (the same points on every machine).
        device: where to put the tensors.

    Returns:
        A :class:`MixtureSet`.

    Raises:
        ValueError: unknown layout, a non-square grid, or non-positive sizes.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is unknown; use one of {LAYOUTS}.")
    n, modes = positive_int("n", n), positive_int("modes", modes)
    std, spacing = number("std", std, above=0), number("spacing", spacing, above=0)
    seed = integer("seed", seed, at_least=0)
    centers = _centers(layout, modes, spacing)
    gen = torch.Generator().manual_seed(seed)
    mode = torch.randint(modes, (n,), generator=gen)
    x = centers[mode] + std * torch.randn(n, 2, generator=gen)
    return MixtureSet(x=x.to(device), mode=mode.to(device), centers=centers.to(device), std=float(std))
