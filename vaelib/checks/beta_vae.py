"""Checks for the exercises of chapter 6 (β-VAE and disentanglement)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from . import Check, Hint, MultipleChoice, hint_for_known_mistake
from .wire import from_data, to_data

__all__ = ["check_duplicate_latent_answer", "check_mig_from_information", "check_rotation_experiment"]


check_duplicate_latent_answer = MultipleChoice(
    "duplicate_latent", correct="b",
    hints={
        "a": ("MIG does not reward the information alone: it measures the *gap* between the "
              "most and the second most informative latent, divided by the factor's entropy."),
        "c": ("the gap is not halved: both latents carry the same information, so the best and "
              "the second best are equal."),
        "d": ("the entropy is the factor's, and it is positive (posX takes 8 values); the gap "
              "is what vanishes."),
    },
    success=("right: two latents hold the same information about posX, so the gap between the "
             "best and the second best is 0, and posX's MIG is 0: MIG penalises a factor "
             "spread over (or copied into) several latents."),
    doc="Exercise 'a copied latent': the MIG of a factor that two latents encode equally well.")


def _reference_mig(mi: np.ndarray, entropy: np.ndarray) -> float:
    top = np.sort(mi, axis=0)[::-1]  # (L, K), each column in descending order
    return float(np.mean((top[0] - top[1]) / entropy))


def _mig_inputs(seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7 if seed is None else seed)
    entropy = np.log(np.array([3.0, 4.0, 8.0, 8.0]))
    mi = rng.uniform(0.0, 1.0, size=(6, 4)) * entropy * 0.5  # (L, K) nats, below each entropy
    mi[2, 3] = 0.9 * entropy[3]  # one latent that clearly carries factor 3
    return mi, entropy


def _probe_mig_from_information(fn: Callable, seed: int | None = None) -> dict:
    mi, entropy = _mig_inputs(seed)
    got = fn(mi.copy(), entropy.copy())
    try:
        return {"seed": seed, "value": float(got)}
    except (TypeError, ValueError):
        return {"seed": seed, "type": type(got).__name__, "shape": list(np.shape(got))}


def _judge_mig_from_information(data: dict) -> str:
    mi, entropy = _mig_inputs(data["seed"])
    if "value" not in data:
        raise Hint(f"return one number (the MIG averaged over factors), got {data['type']} "
                   f"{tuple(data['shape'])}.")
    value = float(data["value"])
    want = _reference_mig(mi, entropy)
    if abs(value - want) < 1e-6:
        return f"MIG = {value:.4f}, matching vaelib.mutual_information_gap's formula."
    top = np.sort(mi, axis=0)[::-1]
    top_rows = np.sort(mi, axis=1)[:, ::-1]
    candidates = {
        "divide each factor's gap by that factor's entropy, so that factors with many values "
        "do not dominate the average.": float(np.mean(top[0] - top[1])),
        "the gap is between the two *largest* values of each factor's column (the best and "
        "the second best latent), not the largest and the smallest.":
            float(np.mean((top[0] - top[-1]) / entropy)),
        "sort each factor's column (over the latents, axis 0), not each latent's row: MIG "
        "asks, for each factor, which latents know about it.":
            float(np.mean((top_rows[:, 0] - top_rows[:, 1]) / entropy.mean())),
        "the gap is best minus second best; you have the sign flipped.":
            -want,
        "the gap of a factor is divided by its entropy, not multiplied.":
            float(np.mean((top[0] - top[1]) * entropy)),
        "average the normalised gaps over the factors; you summed them.":
            float(np.sum((top[0] - top[1]) / entropy)),
    }
    hint_for_known_mistake(value, candidates, rel_tol=1e-6)
    raise Hint(f"got {value:.4f}, expected {want:.4f}. For each factor (column), sort the "
               "latents' mutual informations, take best minus second best, divide by the "
               "factor's entropy; then average over the factors.")


check_mig_from_information = Check(
    "mig_from_information", probe=_probe_mig_from_information, judge=_judge_mig_from_information,
    seeded=True,
    doc="Exercise 'MIG from the information matrix': ``fn(mutual_information (L, K), entropy (K,))``.")


def _probe_rotation(result: Mapping[str, float]) -> dict:
    return {"result": to_data(result)}


def _judge_rotation(data: dict) -> str:
    result = from_data(data["result"])
    keys = {"mig_codes", "mig_rotated"}
    if not isinstance(result, Mapping) or set(result) != keys:
        raise Hint(f"fill a dict with exactly the keys {sorted(keys)}.")
    before, after = float(result["mig_codes"]), float(result["mig_rotated"])
    if not (0.0 <= before <= 1.0 and 0.0 <= after <= 1.0):
        raise Hint(f"MIG lies between 0 and 1; got {before:.3f} and {after:.3f}. Pass the "
                   "'mig' entry of mutual_information_gap's result.")
    if abs(before - after) < 1e-9:
        raise Hint("the two numbers are identical: did you rotate the codes (codes @ R with a "
                   "random orthogonal R) before computing the second MIG?")
    if after >= before:
        raise Hint(f"a random rotation should mix the latents and lower the MIG, but it went "
                   f"from {before:.3f} to {after:.3f}. Rotate the same codes you scored first, "
                   "and use the canonical factor indices both times.")
    return (f"MIG fell from {before:.3f} to {after:.3f}: the rotated code holds the same "
            "information (a rotation is invertible) but spreads each factor over several "
            "latents.")


check_rotation_experiment = Check(
    "rotation_experiment", probe=_probe_rotation, judge=_judge_rotation,
    doc="Exercise 'rotate the code': MIG of the chosen model's codes before and after a rotation.")


# ------------------------------------------------------------- exercise: how many seeds? (★★★)
__all__ += ["check_sign_flip_test"]

# Paired per-seed scores the probe feeds to the learner's function: (a, b) pairs of equal length,
# chosen so that a one-sided test, a forgotten absolute value or a non-paired test all go wrong.
_SIGN_FLIP_CASES = (
    ([0.30, 0.25, 0.28], [0.10, 0.12, 0.09]),  # every seed favours a: still p = 0.25 with 3 seeds
    ([0.05, 0.20, 0.11, 0.09], [0.10, 0.06, 0.04, 0.12]),
    ([0.40, 0.42, 0.39, 0.45, 0.41, 0.44], [0.30, 0.31, 0.33, 0.29, 0.35, 0.30]),
    ([0.10, 0.30, 0.20, 0.25, 0.15], [0.22, 0.18, 0.21, 0.17, 0.23]),
    ([0.2, 0.2], [0.2, 0.2]),  # no difference at all: p = 1
)


def sign_flip_reference(a, b) -> float:
    """Exact two-sided p-value of the paired sign-flip test of the mean difference of ``a - b``.

    Under the null hypothesis the sign of each seed's difference is a fair coin, so the p-value
    is the fraction of the 2**n sign patterns whose |mean| is at least the observed |mean|.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)  # (2**n, n) of ±1
    means = np.abs(signs @ d) / n
    return float(np.mean(means >= abs(d.mean()) - 1e-12))


def _probe_sign_flip(fn: Callable, min_seeds) -> dict:
    values = [fn(list(a), list(b)) for a, b in _SIGN_FLIP_CASES]
    return {"p_values": [float(v) if isinstance(v, (int, float, np.floating)) else repr(v) for v in values],
            "min_seeds": min_seeds if isinstance(min_seeds, int) else repr(min_seeds)}


def _judge_sign_flip(data: dict) -> str:
    got = data["p_values"]
    for (a, b), value in zip(_SIGN_FLIP_CASES, got, strict=True):
        if isinstance(value, str):
            raise Hint(f"return one number, the p-value; got {value} for a = {a}, b = {b}.")
        want = sign_flip_reference(a, b)
        if abs(value - want) > 1e-9:
            one_sided = float(np.mean((1 - 2 * ((np.arange(2 ** len(a))[:, None] >> np.arange(len(a))) & 1))
                                      @ (np.subtract(a, b)) / len(a) >= np.mean(np.subtract(a, b)) - 1e-12))
            hint = (" That is the one-sided value: compare absolute values, |mean|, so that a large "
                    "difference of either sign counts." if abs(value - one_sided) < 1e-9 else
                    " Enumerate all 2**n sign patterns of the per-seed differences a - b (pairs stay "
                    "together), and count those whose |mean| is at least the observed |mean|, the "
                    "observed pattern included.")
            raise Hint(f"for a = {a}, b = {b} the p-value is {want:.4f}, got {value:.4f}.{hint}")
    min_seeds = data["min_seeds"]
    if min_seeds != 6:
        raise Hint(f"min_seeds = {min_seeds} is not right. With n seeds the smallest two-sided p-value "
                   "is 2 / 2**n (all differences of one sign, and its mirror image): find the "
                   "smallest n for which that is below 0.05.")
    return ("right: the exact test gives p = 0.25 even when all three seeds agree, because 2 of "
            "the 8 sign patterns are that extreme. Below 6 seeds no paired comparison can reach "
            "p < 0.05, whatever the scores: three seeds show the spread, they cannot prove an ordering.")


check_sign_flip_test = Check(
    "sign_flip_test", probe=_probe_sign_flip, judge=_judge_sign_flip,
    doc=("Exercise 'how many seeds?': ``fn(a, b)`` the exact two-sided sign-flip p-value, and the "
         "smallest number of seeds for which it can fall below 0.05."))
