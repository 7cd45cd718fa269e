"""How disentangled is a code? The mutual information gap (MIG) and what it needs.

MIG (Chen, Li, Grosse and Duvenaud, 2018, "Isolating Sources of Disentanglement in VAEs") asks,
for each ground-truth factor, whether *one* latent carries much more information about it than
any other. This module follows the estimator of disentanglement_lib (Locatello et al., 2019):

1. the codes are the encoder means on a few thousand images
   (:func:`vaelib.evaluate.encode_means`);
2. each latent is cut into ``bins`` equal-width bins spanning its own range (20 by default);
3. I(z_j; v_k), the discrete mutual information between binned latent j and factor k, in nats;
4. for each factor, (largest I - second largest I) / H(v_k): the gap, a number in [0, 1];
5. MIG is the mean gap over the factors.

Everything is plain numpy; the result is a plain dict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._validation import integer

__all__ = ["mutual_information_gap", "discretize", "discrete_mutual_information",
           "discrete_entropy"]


def _as_2d_array(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N points, columns), got shape {a.shape}; "
                         "use .reshape(-1, 1) for a single column.")
    return a


def discretize(codes, *, bins: int = 20) -> np.ndarray:
    """Cut each column into ``bins`` equal-width bins over its own [min, max].

    Args:
        codes: (N, L) real numbers.
        bins: number of bins per column.

    Returns:
        (N, L) int64 bin numbers in 0 .. bins-1; a constant column falls into a single bin.
    """
    codes = _as_2d_array(codes, "codes").astype(np.float64)
    bins = integer("bins", bins, at_least=2)
    if not np.all(np.isfinite(codes)):
        raise ValueError("codes hold NaN or Inf; check the model (a diverged run?) before scoring it.")
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=bins)
        # Inner edges only: values below the 2nd edge land in bin 0 and the maximum in the last bin.
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def _labels(column: np.ndarray) -> np.ndarray:
    return np.unique(column, return_inverse=True)[1].ravel()  # any discrete values -> 0 .. K-1


def discrete_entropy(labels) -> np.ndarray:
    """Entropy of each column of discrete labels, in nats: (N, K) -> (K,)."""
    labels = _as_2d_array(labels, "labels")
    out = np.empty(labels.shape[1])
    for k in range(labels.shape[1]):
        p = np.bincount(_labels(labels[:, k])) / labels.shape[0]
        out[k] = -np.sum(p * np.log(p))  # every count is positive: no 0 log 0 term
    return out


def discrete_mutual_information(a, b) -> np.ndarray:
    """Mutual information between every column of ``a`` and every column of ``b``, in nats.

    The plug-in estimate, ``sum p(i, j) log(p(i, j) / (p(i) p(j)))`` over the empirical joint
    distribution of the labels.

    Args:
        a: (N, L) discrete labels (e.g. binned latents).
        b: (N, K) discrete labels (e.g. factor indices).

    Returns:
        (L, K) mutual informations, each between 0 and the smaller of the two entropies.
    """
    a, b = _as_2d_array(a, "a"), _as_2d_array(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a has {a.shape[0]} rows but b has {b.shape[0]}; they must describe the same points.")
    n = a.shape[0]
    la = [_labels(a[:, j]) for j in range(a.shape[1])]
    lb = [_labels(b[:, k]) for k in range(b.shape[1])]
    out = np.empty((a.shape[1], b.shape[1]))
    for j, x in enumerate(la):
        px = np.bincount(x) / n
        for k, y in enumerate(lb):
            py = np.bincount(y) / n
            joint = np.bincount(x * py.size + y, minlength=px.size * py.size).reshape(px.size, py.size) / n
            nz = joint > 0
            out[j, k] = np.sum(joint[nz] * np.log(joint[nz] / np.outer(px, py)[nz]))
    return np.maximum(out, 0.0)  # rounding can leave -1e-17 where the true value is 0


def mutual_information_gap(codes, factor_indices, *, bins: int = 20,
                           factor_names: Sequence[str] | None = None) -> dict:
    """The mutual information gap (MIG) of a code with respect to known factors.

    Args:
        codes: (N, L) latent codes, e.g. encoder means from
            :func:`vaelib.evaluate.encode_means`; L >= 2.
        factor_indices: (N, K) the true factors of the same N points, as discrete labels
            (e.g. ``SpriteSet.factor_indices``; any values work, each distinct one is a class).
        bins: equal-width bins per latent (disentanglement_lib uses 20).
        factor_names: K names for the ``per_factor`` entries; indices 0 .. K-1 by default.

    Returns:
        A dict with
        ``"mig"``: the mean gap, a float in [0, 1] (1: each factor lives in one latent alone);
        ``"per_factor"``: {name: gap};
        ``"mutual_information"``: (L, K) array, I(z_j; v_k) in nats;
        ``"entropy"``: (K,) array, H(v_k) in nats;
        ``"best_latent"``: {name: index of the latent most informative about that factor}.

    Raises:
        ValueError: mismatched rows, fewer than 2 latents, a factor with a single value (its
            entropy is 0, so its gap is undefined), NaN codes, or bad ``bins``.
    """
    codes = _as_2d_array(codes, "codes")
    factors = _as_2d_array(factor_indices, "factor_indices")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes has {codes.shape[0]} rows but factor_indices has {factors.shape[0]}; "
                         "they must describe the same points, in the same order.")
    if codes.shape[1] < 2:
        raise ValueError(f"MIG compares the two most informative latents, so codes need at least 2 "
                         f"columns, got {codes.shape[1]}.")
    names = list(range(factors.shape[1])) if factor_names is None else list(factor_names)
    if len(names) != factors.shape[1]:
        raise ValueError(f"{len(names)} factor_names for {factors.shape[1]} factors.")
    entropy = discrete_entropy(factors)
    if np.any(entropy <= 0):
        constant = [names[k] for k in np.flatnonzero(entropy <= 0)]
        raise ValueError(f"factor(s) {constant} take a single value on these points; drop them "
                         "(a constant factor has no information for a latent to capture).")
    mi = discrete_mutual_information(discretize(codes, bins=bins), factors)  # (L, K)
    top2 = -np.sort(-mi, axis=0)[:2]  # (2, K): the largest and second largest per factor
    gaps = (top2[0] - top2[1]) / entropy
    return {
        "mig": float(gaps.mean()),
        "per_factor": {name: float(g) for name, g in zip(names, gaps, strict=True)},
        "mutual_information": mi,
        "entropy": entropy,
        "best_latent": {name: int(j) for name, j in zip(names, mi.argmax(axis=0), strict=True)},
    }
