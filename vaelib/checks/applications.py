"""Checks for the exercises of chapter 8 (applications: anomaly detection, features)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..evaluate import auroc
from . import Check, Hint, MultipleChoice, attempt, attempted
from .wire import from_data, to_data, type_name

__all__ = ["check_auroc_answer", "check_auroc", "check_ink_correlation"]


check_auroc_answer = MultipleChoice(
    "auroc_meaning", correct="b",
    hints={
        "a": ("0.3 is not 'a bit worse than chance': chance is 0.5, and a score below it ranks "
              "the two groups the wrong way round consistently. What would its negative score?"),
        "c": ("the AUROC is not a detection rate at one threshold; it averages over all "
              "thresholds (the probability a random anomaly outscores a random normal "
              "example)."),
        "d": ("the AUROC does not depend on how many anomalies there are: it compares the two "
              "groups' score distributions, whatever their sizes."),
    },
    success=("right: the score is informative but points the wrong way; its negative has AUROC "
             "0.7."),
    doc="Exercise 'what does an AUROC of 0.3 say?'.")


_AUROC_CASES = [
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]),  # 0.75, no ties
    ([1.0, 2.0, 2.0, 3.0, 2.0], [0, 0, 1, 1, 1]),  # ties across groups
    ([5.0, 4.0, 3.0], [0, 1, 1]),  # reversed: 0.0
]


def _probe_auroc(fn: Callable) -> dict:
    return {"got": [float(fn(np.array(scores), np.array(labels).astype(bool)))
                    for scores, labels in _AUROC_CASES]}


def _judge_auroc(data: dict) -> str:
    values = data["got"]
    if not isinstance(values, list) or len(values) != len(_AUROC_CASES):
        raise ValueError("one AUROC per case expected")
    for (scores, labels), got in zip(_AUROC_CASES, values, strict=True):
        scores, labels, got = np.array(scores), np.array(labels), float(got)
        want = auroc(scores, labels)
        if abs(got - want) < 1e-9:
            continue
        if abs(got - (1 - want)) < 1e-9 and abs(want - 0.5) > 1e-9:
            raise Hint(f"you got {got:.3f} where {want:.3f} was expected: the comparison is the "
                       "wrong way round. Count pairs where the *anomaly* has the higher score.")
        pos, neg = scores[labels == 1], scores[labels == 0]
        strict = np.mean(pos[:, None] > neg[None, :])
        loose = np.mean(pos[:, None] >= neg[None, :])
        if abs(got - strict) < 1e-9 or abs(got - loose) < 1e-9:
            raise Hint(f"on a case with tied scores you got {got:.3f}, expected {want:.3f}: a "
                       "tie between an anomaly and a normal example counts one half.")
        raise Hint(f"for scores {scores.tolist()} and labels {labels.tolist()} you returned "
                   f"{got:.3f}, expected {want:.3f}: average, over all (anomaly, normal) pairs, "
                   "1 when the anomaly scores higher, 1/2 for a tie, 0 otherwise.")
    return "matches the rank statistic on all three cases, ties included."


check_auroc = Check("auroc", probe=_probe_auroc, judge=_judge_auroc,
                    doc="Exercise 'AUROC by counting pairs': ties count one half.")


def _probe_ink_correlation(corr: float) -> dict:
    return {"corr": float(corr)}


def _judge_ink_correlation(data: dict) -> str:
    value = float(data["corr"])
    if not -1.0 <= value <= 1.0:
        raise Hint(f"a correlation lies in [-1, 1], got {value:.3f}; use np.corrcoef(a, b)[0, 1].")
    if value < -0.3:
        raise Hint(f"a strong negative correlation ({value:.2f}): you probably correlated the "
                   "ELBO, not the *negative* ELBO (the score), with the ink.")
    if value < 0.3:
        raise Hint(f"{value:.2f} is weak; use the per-image negative ELBO on the binary test "
                   "images and count their on pixels (x.flatten(1).sum(1)).")
    return (f"correlation {value:.2f}: digits with more ink cost more nats, whatever their "
            "class, so a likelihood score partly measures how much is drawn.")


check_ink_correlation = Check(
    "ink_correlation", probe=_probe_ink_correlation, judge=_judge_ink_correlation,
    doc="Exercise 'likelihood counts ink': correlation of -ELBO with the number of on pixels.")


# ------------------------------------------------------------- exercise: too likely to be normal (★★★)
__all__ += ["check_typicality_score", "typicality_cases", "MIN_AUROC"]

MIN_AUROC = 0.65  # on every case, anomalies too cheap, too expensive or both
_REFERENCE_SIZE, _NORMAL_NEW, _ANOMALIES = 2000, 900, 100


def _standard_lognormal(sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """exp(sigma * eps) standardised to mean 0 and variance 1: a long right tail."""
    mean = math.exp(sigma**2 / 2)
    sd = math.sqrt((math.exp(sigma**2) - 1) * math.exp(sigma**2))
    return (torch.exp(sigma * eps) - mean) / sd


def _skewed(params: dict, eps: torch.Tensor) -> torch.Tensor:
    """Normal scores from standard normal ``eps``: a lognormal's long tail, on the cheap side if mirrored."""
    sign = -1.0 if params["mirror"] else 1.0
    return params["loc"] + sign * params["scale"] * _standard_lognormal(params["sigma"], eps)


def _skewed_quantile(params: dict, p: float) -> float:
    """The p-quantile of :func:`_skewed`'s scores, in closed form."""
    tail = 1 - p if params["mirror"] else p  # mirroring turns the lower tail into the upper one
    return float(_skewed(params, torch.special.ndtri(torch.tensor(tail, dtype=torch.float64))))


def typicality_cases(seed: int | None) -> list[dict]:
    """Sets of -ELBO scores shaped like chapter 8's: normal scores with a long tail on one side.

    Three cases: anomalies cheaper than the normal images (the held-out 1s), more expensive (the
    held-out 0s), and on both sides of normal scores whose long tail is on the cheap side. Each
    case holds ``reference`` (M,) normal scores, ``scores`` (N,) new scores, ``is_anomaly`` (N,)
    and its ``name``; every score is positive, and the same seed gives the same cases.
    """
    gen = torch.Generator().manual_seed(8 if seed is None else seed)
    f64 = torch.float64

    def uniform(low: float, high: float) -> float:
        return float(torch.empty((), dtype=f64).uniform_(low, high, generator=gen))

    def normal(params: dict, n: int) -> torch.Tensor:  # eps within 3.5 standard deviations: no score below 0
        return _skewed(params, torch.randn(n, generator=gen, dtype=f64).clamp(-3.5, 3.5))

    cases = []
    for name, sides, mirror in (("anomalies cheaper than normal images (like the held-out 1s)", ("low",), False),
                                ("anomalies more expensive than normal images (like the held-out 0s)", ("high",), False),
                                ("anomalies on both sides, normal scores with a long cheap tail", ("low", "high"), True)):
        params = {"sigma": uniform(0.35, 0.55), "loc": uniform(80, 130), "mirror": mirror}
        params["scale"] = params["loc"] * (uniform(0.05, 0.07) if mirror else uniform(0.15, 0.25))
        reference, new = normal(params, _REFERENCE_SIZE), normal(params, _NORMAL_NEW)
        median = _skewed_quantile(params, 0.5)
        parts = []
        for side in sides:
            if side == "low":  # about as cheap as the cheapest 1% of normal images, give or take
                centre, spread = _skewed_quantile(params, 0.01), 0.3 * (median - _skewed_quantile(params, 0.1))
            else:
                centre, spread = _skewed_quantile(params, 0.99), 0.3 * (_skewed_quantile(params, 0.9) - median)
            parts.append(centre + spread * torch.randn(_ANOMALIES // len(sides), generator=gen, dtype=f64))
        scores = torch.cat([new, *parts])
        is_anomaly = torch.arange(len(scores)) >= _NORMAL_NEW
        order = torch.randperm(len(scores), generator=gen)
        cases.append({"name": name, "reference": reference.float(), "scores": scores[order].float(),
                      "is_anomaly": is_anomaly[order]})
    return cases


def _probe_typicality_score(fn: Callable, seed: int | None = None) -> dict:
    out = {"seed": seed, "scores": []}
    cases = typicality_cases(seed)
    for case in cases:
        got = fn(case["reference"].clone(), case["scores"].clone())
        out["scores"].append(to_data(got.detach() if isinstance(got, torch.Tensor) else got))
    first = cases[0]
    shift = 3 * float(first["reference"].quantile(0.75) - first["reference"].quantile(0.25))
    out["shifted"] = attempt(fn, first["reference"].clone() + shift, first["scores"].clone())  # other normal scores
    return out


def _as_scores(value, n: int) -> torch.Tensor:
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise Hint(f"return one anomaly score per new image as a tensor (or NumPy array) of shape ({n},), "
                   f"not {type_name(value)}.")
    if tuple(value.shape) != (n,):
        raise Hint(f"for {n} new scores return one anomaly score per image, shape ({n},); got "
                   f"{tuple(value.shape)}" + (" (flatten it)." if value.numel() == n else "."))
    return value.double()


def _judge_typicality_score(data: dict) -> str:
    cases = typicality_cases(data["seed"])
    results = []
    for case, raw in zip(cases, data["scores"], strict=True):
        got = _as_scores(from_data(raw), len(case["scores"]))
        if not torch.isfinite(got).all():
            raise Hint(f"{int((~torch.isfinite(got)).sum())} of your scores are NaN or infinite (for "
                       f"{case['name']}); check divisions by a spread and logarithms of a share that can be 0.")
        if float(got.max() - got.min()) == 0:
            raise Hint("all your scores are the same number, so they rank nothing (AUROC 0.5).")
        results.append((auroc(got, case["is_anomaly"]), got))
    aurocs = [a for a, _ in results]
    cheap, dear, both = aurocs
    if max(aurocs) < 0.5 and sum(aurocs) / 3 < 0.35:
        raise Hint(f"your scores rank the anomalies as *more* normal on every case (AUROC {cheap:.2f}, {dear:.2f}, "
                   f"{both:.2f}): the sign is flipped. Higher must mean more anomalous; negate your score.")
    if cheap < MIN_AUROC and dear >= MIN_AUROC:
        raise Hint(f"your score flags the expensive anomalies (AUROC {dear:.2f}) but ranks the too-cheap ones "
                   f"{'below the normal images' if cheap < 0.5 else 'barely above chance'} (AUROC {cheap:.2f}), as "
                   "the -ELBO does with the held-out 1s. Measure how far a score lies from the typical normal "
                   "score in *either* direction.")
    if dear < MIN_AUROC and cheap >= MIN_AUROC:
        raise Hint(f"your score flags the too-cheap anomalies (AUROC {cheap:.2f}) but not the expensive ones (AUROC "
                   f"{dear:.2f}): it watches one side only. An image can be unusual in either direction.")
    for (name, value) in zip((c["name"] for c in cases), aurocs, strict=True):
        if value < MIN_AUROC:
            raise Hint(f"for {name} your score reaches AUROC {value:.2f}, below {MIN_AUROC}. Score how unusual each "
                       "new score is among the *reference* (normal) scores, on the side where it lies; the normal "
                       "scores have a long tail on one side, so a distance that treats both sides alike can "
                       "rank ordinary images of the long tail above the anomalies of the short one.")
    shifted = attempted(data["shifted"])
    if isinstance(shifted, np.ndarray) and shifted.dtype.kind in "biuf":
        shifted = torch.from_numpy(shifted)
    if isinstance(shifted, torch.Tensor) and shifted.shape == results[0][1].shape and \
            torch.allclose(shifted.double(), results[0][1], rtol=1e-6, atol=1e-9):
        raise Hint("your scores do not change when the reference scores change (the check moved every normal "
                   "score up by three interquartile ranges): they are computed from the new scores alone. What "
                   "is typical must come from the normal images: the new ones may be anomalies.")
    rank = []
    for case in cases:
        below = (case["reference"][None, :] < case["scores"][:, None]).double().mean(1)
        rank.append(auroc(-torch.minimum(below, 1 - below), case["is_anomaly"]))
    raw = [auroc(case["scores"], case["is_anomaly"]) for case in cases]
    return ("your score flags anomalies on either side: AUROC " + ", ".join(
        f"{a:.2f} (the -ELBO itself: {r:.2f}; a rank-based two-sided score: {k:.2f})"
        for a, r, k in zip(aurocs, raw, rank, strict=True))
        + " for anomalies too cheap, too expensive, and on both sides of skewed normal scores.")


check_typicality_score = Check(
    "typicality_score", probe=_probe_typicality_score, judge=_judge_typicality_score, seeded=True,
    doc="""Exercise 'too likely to be normal' (★★★): ``fn(reference, scores)`` -> (N,) anomaly scores.

    Called on fresh sets of -ELBO-like scores: ``reference`` holds normal images' scores (with a long
    tail on one side), ``scores`` new images', 10% of them anomalies. The check computes the AUROC
    of the answer itself; it must reach ``MIN_AUROC`` whether the anomalies are too cheap (as the
    held-out 1s), too expensive (as the held-out 0s) or both, and depend on the reference.""")
