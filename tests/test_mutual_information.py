"""vaelib's discrete mutual information against scikit-learn's, the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from vaelib.evaluate.disentanglement import (
    discrete_entropy,
    discrete_mutual_information,
    discretize,
)


def _columns(rng: np.random.Generator, n: int, sizes: list[int]) -> np.ndarray:
    return np.stack([rng.integers(0, k, size=n) for k in sizes], axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    a = _columns(rng, 500, [2, 7, 20])
    b = _columns(rng, 500, [3, 10])
    b[:, 1] = (a[:, 1] + rng.integers(0, 2, size=500)) % 10  # a dependent pair: MI well above 0
    mine = discrete_mutual_information(a, b)
    reference = np.array([[mutual_info_score(a[:, j], b[:, k]) for k in range(2)] for j in range(3)])
    np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12)
    assert mine[1, 1] > 1.0  # the dependent pair shares over a nat; a check that the test has teeth


def test_matches_sklearn_on_binned_codes_with_odd_labels():
    rng = np.random.default_rng(3)
    codes = rng.normal(size=(800, 4))
    factors = np.stack([rng.choice([-5, 17, 230], size=800),          # labels that are not 0..K-1
                        np.digitize(codes[:, 2], [-1, 0, 1]),          # a factor read off latent 2
                        np.full(800, 4)], axis=1)                      # a constant factor
    binned = discretize(codes, bins=20)
    mine = discrete_mutual_information(binned, factors)
    reference = np.array([[mutual_info_score(binned[:, j], factors[:, k]) for k in range(3)]
                          for j in range(4)])
    np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12)
    assert mine[:, 2].max() == 0.0  # nothing is shared with a constant


def test_information_of_a_column_with_itself_is_its_entropy():
    rng = np.random.default_rng(4)
    a = _columns(rng, 300, [5, 12])
    np.testing.assert_allclose(np.diag(discrete_mutual_information(a, a)), discrete_entropy(a), atol=1e-12)
    np.testing.assert_allclose(discrete_entropy(a), [mutual_info_score(c, c) for c in a.T], atol=1e-12)
