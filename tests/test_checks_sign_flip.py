"""The chapter-6 exercise 'how many seeds?': the reference p-value and its check."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vaelib.checks import beta_vae as checks


def brute_force(a, b) -> float:
    d = np.subtract(a, b)
    flipped = [abs(np.dot(s, d)) / len(d) for s in itertools.product((1, -1), repeat=len(d))]
    return float(np.mean(np.array(flipped) >= abs(d.mean()) - 1e-12))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_smallest_p_value_is_two_over_two_to_the_n(n):
    # Every seed favours a: the observed pattern and its mirror image are the extreme ones.
    a, b = list(np.arange(1, n + 1) * 0.1 + 1), [0.0] * n
    assert math.isclose(checks.sign_flip_reference(a, b), min(1.0, 2 / 2**n))


def test_reference_matches_brute_force_and_is_symmetric():
    rng = np.random.default_rng(0)
    for n in range(1, 8):
        a, b = rng.random(n), rng.random(n)
        assert math.isclose(checks.sign_flip_reference(a, b), brute_force(a, b))
        assert math.isclose(checks.sign_flip_reference(a, b), checks.sign_flip_reference(b, a))


def test_check_passes_the_solution_and_hints_at_the_usual_mistakes():
    assert checks.check_sign_flip_test(brute_force, 6).passed

    def one_sided(a, b):
        d = np.subtract(a, b)
        flipped = [np.dot(s, d) / len(d) for s in itertools.product((1, -1), repeat=len(d))]
        return float(np.mean(np.array(flipped) >= d.mean() - 1e-12))

    result = checks.check_sign_flip_test(one_sided, 6)
    assert not result.passed and "one-sided" in result.message
    result = checks.check_sign_flip_test(brute_force, 5)
    assert not result.passed and "2 / 2**n" in result.message
    result = checks.check_sign_flip_test(lambda a, b: "small", 6)
    assert not result.passed and "one number" in result.message


def test_probe_returns_plain_data_and_judge_rejects_forged_values():
    data = checks._probe_sign_flip(brute_force, 6)
    assert all(isinstance(v, float) for v in data["p_values"]) and data["min_seeds"] == 6
    forged = {**data, "p_values": [0.01] * len(data["p_values"])}
    with pytest.raises(checks.Hint):
        checks._judge_sign_flip(forged)
