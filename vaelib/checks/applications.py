"""Checks for the exercises of chapter 8 (applications: anomaly detection, features)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..evaluate import auroc
from . import Check, Hint, MultipleChoice

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
