"""Scores for samples of any generative model: mode coverage on a 2-D mixture, the spread of a
classifier's labels, the Fréchet distance between two sets of features, and how sharp images are.

None of them needs the model's likelihood, so a VAE, a GAN and a diffusion model are measured the
same way. Inputs are tensors or arrays; outputs are plain Python numbers and lists.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import number

__all__ = ["mode_coverage", "label_spread", "gaussian_frechet_distance", "frechet_distance", "sharpness"]


def _numpy64(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def mode_coverage(samples, centers, std: float, *, radius: float = 3.0,
                  min_share: float = 0.2) -> dict:
    """How many modes of a mixture of isotropic Gaussians the samples cover, and how cleanly.

    A sample is *near* a mode when it lies within ``radius`` standard deviations of its centre
    (3 sigma holds 98.9% of a 2-D Gaussian's mass). A mode is *covered* when it holds at least
    ``min_share`` of its fair share of the samples, ``min_share * N / K``, so a handful of strays
    does not count as covering a mode.

    Args:
        samples: (N, D) generated points.
        centers: (K, D) the modes' means.
        std: the modes' common standard deviation.
        radius: the disc's radius in standard deviations.
        min_share: the fraction of a fair share (N / K) a mode needs to count as covered.

    Returns:
        ``{"modes_covered": int, "near_fraction": float, "counts": list[int]}``: the number of
        covered modes, the fraction of samples near some mode, and the number near each mode.

    Raises:
        ValueError: shapes that do not match, or a non-positive ``std`` / ``radius``.
    """
    s, c = _numpy64(samples), _numpy64(centers)
    if s.ndim != 2 or c.ndim != 2 or s.shape[1] != c.shape[1]:
        raise ValueError(f"samples (N, D) and centers (K, D) must share D; got {s.shape} and {c.shape}.")
    if len(s) == 0:
        raise ValueError("no samples to score; draw at least one.")
    std, radius = number("std", std, above=0), number("radius", radius, above=0)
    if not np.isfinite(s).all():
        raise ValueError("samples contain NaN or Inf; the generator diverged, so there is nothing to score.")
    dist = np.sqrt(((s[:, None, :] - c[None]) ** 2).sum(-1))  # (N, K)
    nearest = dist.argmin(1)
    near = dist[np.arange(len(s)), nearest] <= radius * std
    counts = np.bincount(nearest[near], minlength=len(c))
    need = min_share * len(s) / len(c)
    return {"modes_covered": int((counts >= need).sum()), "near_fraction": float(near.mean()),
            "counts": counts.tolist()}


def label_spread(labels, num_classes: int = 10) -> dict:
    """How evenly predicted labels spread over the classes.

    Args:
        labels: (N,) predicted class indices of generated samples.
        num_classes: K.

    Returns:
        ``{"entropy": nats, "max_entropy": log K, "shares": list of K fractions}``. An entropy
        near ``log K`` means every class is drawn about equally often; a collapse onto a few
        classes lowers it (onto one class: 0).
    """
    y = _numpy64(labels).astype(np.int64).reshape(-1)
    if y.size == 0 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be a non-empty set of class indices in [0, {num_classes}).")
    shares = np.bincount(y, minlength=num_classes) / y.size
    nz = shares[shares > 0]
    entropy = max(0.0, float(-(nz * np.log(nz)).sum()))  # max: no "-0.0" for a single class
    return {"entropy": entropy, "max_entropy": math.log(num_classes),
            "shares": shares.tolist()}


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (round-off clipped)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """The Fréchet (2-Wasserstein) distance, squared, between N(mu1, cov1) and N(mu2, cov2).

    ``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2)`` (Dowson & Landau 1982):
    the quantity behind the FID of Heusel et al. (2017). The matrix square roots are taken of
    symmetric matrices, by eigendecomposition in float64, so the trace term is real.

    Args:
        mu1, mu2: means, (D,).
        cov1, cov2: covariances, (D, D), symmetric positive semi-definite.

    Returns:
        The squared distance, in squared units of the features (>= 0).
    """
    m1, m2, c1, c2 = (_numpy64(a) for a in (mu1, mu2, cov1, cov2))
    d = m1.shape[0] if m1.ndim == 1 else -1
    if m1.shape != (d,) or m2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(f"means must be (D,) and covariances (D, D); got {m1.shape}, {c1.shape}, "
                         f"{m2.shape}, {c2.shape}.")
    r1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(r1 @ c2 @ r1)
    value = float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(cross))
    return max(value, 0.0)


def frechet_distance(features1, features2) -> float:
    """The Fréchet distance (squared) between Gaussians fitted to two sets of features.

    Each set is summarised by its mean and covariance; the result is
    :func:`gaussian_frechet_distance` of the two summaries. It depends on the feature space:
    numbers computed in different feature spaces (or with very different sample sizes, since the
    estimate is biased upwards for small sets) are not comparable.

    Args:
        features1: (N1, D) features, e.g. of generated images.
        features2: (N2, D) features, e.g. of real test images.

    Returns:
        The squared distance (>= 0).
    """
    f1, f2 = _numpy64(features1), _numpy64(features2)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D; got {f1.shape} and {f2.shape}.")
    if min(len(f1), len(f2)) < 2:
        raise ValueError("each set needs at least 2 rows to estimate a covariance.")
    if not (np.isfinite(f1).all() and np.isfinite(f2).all()):
        raise ValueError("features contain NaN or Inf; check the samples first.")
    return gaussian_frechet_distance(f1.mean(0), np.atleast_2d(np.cov(f1, rowvar=False)),
                                     f2.mean(0), np.atleast_2d(np.cov(f2, rowvar=False)))


def sharpness(images, *, margin: float = 0.1) -> dict[str, float]:
    """How sharp a set of grey-level images is, by two pixel-level measures that need no model.

    - ``"edge"``: the mean magnitude of the image gradient, from differences between neighbouring
      pixels, ``sqrt((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2)`` at each of the
      ``(H - 1) x (W - 1)`` pixels that have both neighbours, averaged over pixels and images. A
      blurred digit spreads each edge over several pixels, each with a smaller step.
    - ``"decisive"``: the share of pixels within ``margin`` of 0 or 1. A sharp digit is mostly
      ink or background; a blurred one has grey halos.

    Both read only the pixels, so they reward speckle as well as clean strokes: compare them with
    the same numbers for real images, and read them next to a measure of content (a classifier's
    verdict, a Fréchet distance).

    Args:
        images: (N, C, H, W) or (N, H, W) values in [0, 1], with H, W >= 2.
        margin: how close to 0 or 1 a pixel must be to count as decisive, in (0, 0.5).

    Returns:
        ``{"edge": float, "decisive": float}``: grey levels per pixel, and a fraction.

    Raises:
        ValueError: images of another shape, values outside [0, 1] or not finite, or a bad margin.
    """
    x = _numpy64(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or len(x) == 0 or min(x.shape[2:]) < 2:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W) with N >= 1 and H, W >= 2; got "
                         f"{tuple(_numpy64(images).shape)}.")
    margin = number("margin", margin, above=0)
    if margin >= 0.5:
        raise ValueError(f"margin={margin} must be below 0.5, or every pixel would count as decisive.")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must hold finite values in [0, 1]; map a generator's output there first "
                         "(e.g. (x + 1) / 2 for tanh outputs).")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]  # (N, C, H-1, W-1): step to the right-hand neighbour
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]  # step to the neighbour below
    edge = float(np.sqrt(dx**2 + dy**2).mean())
    decisive = float(((x <= margin) | (x >= 1 - margin)).mean())
    return {"edge": edge, "decisive": decisive}
