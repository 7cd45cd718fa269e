"""Anomaly detection with a trained model: per-example scores, the ROC curve and its area.

Scores are "higher = more anomalous", in nats per example; the truth is one boolean per example
(True = anomaly). ROC and AUROC take any scores, from a model or not.
"""

from __future__ import annotations

import numpy as np
import torch

from ..losses import bernoulli_log_likelihood
from .bounds import evaluate_elbo, importance_log_likelihood
from .codes import encode_means

__all__ = ["anomaly_scores", "roc_curve", "auroc"]

SCORES = ("elbo", "importance", "reconstruction")


@torch.no_grad()
def anomaly_scores(model, x: torch.Tensor, *, score: str = "elbo", samples: int = 100,
                   batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """Per-example anomaly scores (higher = more unusual), in nats per example.

    Args:
        model: a VAE for ``"elbo"`` and ``"importance"``; a VAE or an autoencoder for
            ``"reconstruction"``.
        x: binary images (N, C, H, W).
        score: ``"elbo"``: the negative ELBO, one sample; ``"importance"``: the negative
            importance-sampled log-likelihood with ``samples`` samples; ``"reconstruction"``: the
            Bernoulli reconstruction error -log p(x | z) at the code (the posterior mean for a VAE),
            which for an autoencoder is its training loss per image.
        samples: K for ``"importance"``.

    Returns:
        Scores, shape (N,), on the CPU.
    """
    if score not in SCORES:
        raise ValueError(f"score={score!r} is unknown; use one of {SCORES}.")
    model.eval()
    if score == "elbo":
        return -evaluate_elbo(model, x, per_example=True, seed=seed, batch_size=batch_size)["elbo"]
    if score == "importance":
        return -importance_log_likelihood(model, x, samples=samples, seed=seed)
    codes = encode_means(model, x, batch_size=batch_size)  # (N, D): a VAE's means, or an AE's codes
    device = next(model.parameters()).device
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb, z = x[start:start + batch_size].to(device), codes[start:start + batch_size].to(device)
        out.append(-bernoulli_log_likelihood(model.decode(z), xb).cpu())
    return torch.cat(out)


def _scores_and_flags(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = scores.detach().cpu().double().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores, float)
    t = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    s, t = s.reshape(-1), t.reshape(-1).astype(bool)
    if s.shape != t.shape:
        raise ValueError(f"{s.size} scores but {t.size} labels; give one is-anomaly flag per score.")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or Inf; check the model's outputs first.")
    if t.all() or not t.any():
        raise ValueError("ROC needs both classes: some examples flagged anomalous (True) and some normal.")
    return s, t


def roc_curve(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of a score that should be higher for anomalies.

    Args:
        scores: (N,) numbers, higher = more anomalous.
        is_anomaly: (N,) booleans (or 0/1), the truth.

    Returns:
        ``(fpr, tpr, thresholds)``: numpy arrays from (0, 0) to (1, 1); point i flags every example
        with ``score >= thresholds[i]`` (the first threshold is +inf, nothing flagged). Tied scores
        form one step, so the curve's area is :func:`auroc`.
    """
    s, t = _scores_and_flags(scores, is_anomaly)
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # flag all tied scores at once
    tp = np.cumsum(t)[last_of_tie]
    fp = np.cumsum(~t)[last_of_tie]
    tpr = np.r_[0.0, tp / t.sum()]
    fpr = np.r_[0.0, fp / (~t).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auroc(scores, is_anomaly) -> float:
    """Area under the ROC curve, by the rank statistic (Mann–Whitney U).

    AUROC = P(score of a random anomaly > score of a random normal example), ties counting one
    half: 1 is a perfect ranking, 0.5 a coin.

    Args:
        scores: (N,) numbers, higher = more anomalous.
        is_anomaly: (N,) booleans (or 0/1).

    Returns:
        A float in [0, 1].
    """
    s, t = _scores_and_flags(scores, is_anomaly)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average 1-based ranks over groups of tied scores: that is how ties count one half
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
