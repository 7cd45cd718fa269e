"""MIG: sanity values from DESIGN.md §6, and one case recomputed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaelib.data.sprites import dsprites_factors, sprite_factors
from vaelib.evaluate import encode_means
from vaelib.evaluate.disentanglement import (
    discrete_entropy,
    discrete_mutual_information,
    discretize,
    mutual_information_gap,
)


def _grid(factors):
    """Every grid point's indices and values, without drawing any image."""
    idx = np.stack(np.unravel_index(np.arange(len(factors)), factors.sizes), axis=1)
    return idx, factors.values_at(idx)


@pytest.fixture(scope="module")
def dsprites_sample():
    idx, values = _grid(dsprites_factors())
    rows = np.random.default_rng(0).choice(len(idx), size=10_000, replace=False)
    return idx[rows], values[rows]


def test_identity_code_on_the_dsprites_grid_scores_about_0_9():
    idx, values = _grid(dsprites_factors())
    result = mutual_information_gap(values, idx, factor_names=dsprites_factors().names)
    # Why not 1.0: 20 equal-width bins cannot keep apart factors with more than 20 values.
    # shape (3 values) and scale (6) get a bin per value: gap 1. The 40 orientations fall two to
    # a bin, so the binned latent keeps log 20 of the factor's log 40 nats: 0.812. The 32
    # positions fill 12 bins with two values and 8 bins with one, so the latent keeps
    # 0.75 * log 16 + 0.25 * log 32 = 4.25 bits of 5: 0.85. Mean: (1 + 1 + 0.812 + 0.85 + 0.85) / 5.
    want = {"shape": 1.0, "scale": 1.0, "orientation": math.log(20) / math.log(40),
            "posX": 0.85, "posY": 0.85}
    for name, gap in want.items():
        assert result["per_factor"][name] == pytest.approx(gap, abs=1e-9)
    assert result["mig"] == pytest.approx(0.9024, abs=1e-4)
    assert result["best_latent"] == {"shape": 0, "scale": 1, "orientation": 2, "posX": 3, "posY": 4}


def test_identity_code_on_10k_points_is_close(dsprites_sample):
    idx, values = dsprites_sample
    mig = mutual_information_gap(values, idx)["mig"]
    # On a sample the second-best latent picks up a little chance information: slightly lower.
    assert 0.88 < mig < 0.9024


def test_identity_code_on_the_default_sprites_grid_scores_1():
    # The default grid has at most 8 values per factor: each gets its own bin, nothing is lost.
    idx, values = _grid(sprite_factors())
    assert mutual_information_gap(values, idx)["mig"] == pytest.approx(1.0)


def test_constant_code_scores_0(dsprites_sample):
    idx, _ = dsprites_sample
    result = mutual_information_gap(np.full((len(idx), 5), 0.3), idx)
    assert result["mig"] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(result["mutual_information"], 0.0)


def test_duplicated_latents_score_0(dsprites_sample):
    idx, values = dsprites_sample
    twice = np.repeat(values, 2, axis=1)  # latents 2k and 2k+1 both equal factor k
    assert mutual_information_gap(twice, idx)["mig"] == pytest.approx(0.0, abs=1e-12)


def test_random_code_scores_about_0(dsprites_sample):
    idx, _ = dsprites_sample
    noise = np.random.default_rng(1).normal(size=(len(idx), 10))
    assert mutual_information_gap(noise, idx)["mig"] < 0.01


def test_mig_by_hand_on_eight_points():
    # Two binary factors a, b; latent 0 copies a, latent 1 is b with the last point flipped.
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    b = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    z1 = np.array([0, 0, 1, 1, 0, 0, 1, 0])
    codes = np.stack([a * 2.5 - 1, z1 * 0.7], axis=1).astype(float)  # two values each: 2 bins
    factors = np.stack([a, b], axis=1)

    log = math.log
    # Each factor is a fair coin: H = log 2.
    h = log(2)
    # I(z0; a) = H(a) = log 2 (z0 is a copy); I(z0; b) = 0 (a and b are independent here).
    # I(z1; a): joint p(z1, a) = {(0,0): 2/8, (1,0): 2/8, (0,1): 3/8, (1,1): 1/8},
    #           p(z1=0) = 5/8, p(z1=1) = 3/8, p(a) = 1/2 each.
    i_z1_a = (2 / 8 * log((2 / 8) / (5 / 8 * 1 / 2)) + 2 / 8 * log((2 / 8) / (3 / 8 * 1 / 2))
              + 3 / 8 * log((3 / 8) / (5 / 8 * 1 / 2)) + 1 / 8 * log((1 / 8) / (3 / 8 * 1 / 2)))
    # I(z1; b): joint p(z1, b) = {(0,0): 4/8, (1,0): 0, (0,1): 1/8, (1,1): 3/8}.
    i_z1_b = (4 / 8 * log((4 / 8) / (5 / 8 * 1 / 2)) + 1 / 8 * log((1 / 8) / (5 / 8 * 1 / 2))
              + 3 / 8 * log((3 / 8) / (3 / 8 * 1 / 2)))
    want_mi = np.array([[log(2), 0.0], [i_z1_a, i_z1_b]])
    gap_a = (log(2) - i_z1_a) / h
    gap_b = (i_z1_b - 0.0) / h

    result = mutual_information_gap(codes, factors, factor_names=["a", "b"])
    assert np.allclose(result["mutual_information"], want_mi, atol=1e-12)
    assert np.allclose(result["entropy"], [h, h])
    assert result["per_factor"]["a"] == pytest.approx(gap_a)
    assert result["per_factor"]["b"] == pytest.approx(gap_b)
    assert result["mig"] == pytest.approx((gap_a + gap_b) / 2)
    assert result["best_latent"] == {"a": 0, "b": 1}


def test_discretize_uses_equal_width_bins_over_each_range():
    codes = np.array([[0.0], [0.049], [0.051], [0.5], [0.999], [1.0]])
    assert discretize(codes, bins=20)[:, 0].tolist() == [0, 0, 1, 10, 19, 19]
    assert len(set(discretize(np.full((5, 1), 7.0)).ravel().tolist())) == 1  # one bin


def test_mutual_information_is_symmetric_and_bounded_by_entropy():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(500, 2))
    b = np.stack([a[:, 0] // 2, rng.integers(0, 3, 500)], axis=1)
    mi = discrete_mutual_information(a, b)
    assert np.allclose(mi, discrete_mutual_information(b, a).T)
    assert np.all(mi <= np.minimum.outer(discrete_entropy(a), discrete_entropy(b)) + 1e-12)
    assert mi[0, 0] == pytest.approx(discrete_entropy(b)[0])  # b0 is a function of a0


def test_torch_inputs_and_factor_names():
    codes = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    factors = torch.tensor([[0], [1], [0], [1]])
    result = mutual_information_gap(codes, factors, factor_names=["f"])
    assert result["per_factor"] == {"f": pytest.approx(1.0)}


@pytest.mark.parametrize("codes, factors, kwargs, match", [
    (np.zeros((4, 2)), np.zeros((5, 1)), {}, "rows"),
    (np.zeros((4, 1)), np.array([[0], [1], [0], [1]]), {}, "at least 2"),
    (np.zeros((4, 2)), np.zeros((4, 1)), {}, "single value"),
    (np.full((4, 2), np.nan), np.array([[0], [1], [0], [1]]), {}, "NaN"),
    (np.zeros((4, 2)), np.array([[0], [1], [0], [1]]), {"bins": 1}, "bins"),
    (np.zeros(4), np.array([[0], [1], [0], [1]]), {}, "2-D"),
    (np.zeros((4, 2)), np.array([[0], [1], [0], [1]]), {"factor_names": ["a", "b"]}, "factor_names"),
])
def test_bad_inputs_are_explained(codes, factors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mutual_information_gap(codes, factors, **kwargs)


class _Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.dropout = torch.nn.Dropout(0.5)

    def encode(self, x):
        h = self.dropout(self.linear(x.flatten(start_dim=1)))
        return h, torch.zeros_like(h)


def test_encode_means_batches_without_noise_and_restores_the_mode():
    model = _Encoder()
    model.train()
    x = torch.randn(10, 1, 2, 2)
    mu = encode_means(model, x, batch_size=3)
    assert mu.shape == (10, 3) and not mu.requires_grad
    assert model.training  # put back as found
    with torch.no_grad():
        want = model.linear(x.flatten(start_dim=1))  # eval mode: dropout off
    assert torch.allclose(mu, want)
    with pytest.raises(ValueError, match="batch_size"):
        encode_means(model, x, batch_size=0)
