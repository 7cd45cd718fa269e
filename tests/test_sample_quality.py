"""Sample scores: the Fréchet distance against closed forms, mode coverage, label spread, the mixture."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from vaelib.data.mixture import make_mixture
from vaelib.evaluate.sample_quality import (
    frechet_distance,
    gaussian_frechet_distance,
    label_spread,
    mode_coverage,
    sharpness,
)


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_distance_of_one_dimensional_gaussians_is_the_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)]:
        got = gaussian_frechet_distance([m1], [[s1**2]], [m2], [[s2**2]])
        assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, abs=1e-10)


def test_frechet_distance_with_commuting_covariances_is_a_sum_over_axes():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # a shared rotation: the covariances commute
    v1, v2 = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    got = gaussian_frechet_distance(m1, q @ np.diag(v1) @ q.T, m2, q @ np.diag(v2) @ q.T)
    want = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert got == pytest.approx(want, rel=1e-9)


def test_frechet_distance_general_covariances_match_the_optimal_transport_cost():
    # For Gaussians the optimal map is linear, x -> m2 + A (x - m1) with
    # A = C1^-1/2 (C1^1/2 C2 C1^1/2)^1/2 C1^-1/2; its expected squared displacement is W2^2.
    rng = np.random.default_rng(1)
    d = 4
    c1, c2 = _random_cov(rng, d), _random_cov(rng, d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    w, v = np.linalg.eigh(c1)
    r1, r1_inv = (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T
    w2, v2 = np.linalg.eigh(r1 @ c2 @ r1)
    a = r1_inv @ ((v2 * np.sqrt(w2)) @ v2.T) @ r1_inv
    assert np.allclose(a @ c1 @ a.T, c2)  # the map does carry N(m1, C1) to N(m2, C2)
    displacement = np.eye(d) - a  # x - T(x) = (I - A)(x - m1) + (m1 - m2)
    cost = ((m1 - m2) ** 2).sum() + np.trace(displacement @ c1 @ displacement.T)
    got = gaussian_frechet_distance(m1, c1, m2, c2)
    assert got == pytest.approx(cost, rel=1e-8)
    assert gaussian_frechet_distance(m2, c2, m1, c1) == pytest.approx(got, rel=1e-8)  # symmetric
    assert gaussian_frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_converges_to_the_closed_form():
    rng = np.random.default_rng(2)
    c1, c2 = _random_cov(rng, 3), _random_cov(rng, 3)
    m1, m2 = np.zeros(3), np.ones(3)
    x1 = rng.multivariate_normal(m1, c1, size=200_000)
    x2 = rng.multivariate_normal(m2, c2, size=200_000)
    want = gaussian_frechet_distance(m1, c1, m2, c2)
    assert frechet_distance(torch.tensor(x1), x2) == pytest.approx(want, rel=0.02)
    assert frechet_distance(x1[:100_000], x1[100_000:]) < 0.01


def test_frechet_distance_rejects_bad_shapes_and_values():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="covariances"):
        gaussian_frechet_distance([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2))


def test_mixture_has_the_requested_modes_and_spread():
    data = make_mixture(20_000, layout="grid", modes=25, spacing=1.0, std=0.05, seed=0)
    assert data.x.shape == (20_000, 2) and data.centers.shape == (25, 2)
    assert data.centers.min() == pytest.approx(-2.0) and data.centers.max() == pytest.approx(2.0)
    offsets = data.x - data.centers[data.mode]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.03)
    counts = torch.bincount(data.mode, minlength=25).float()
    assert (counts / 20_000 - 1 / 25).abs().max() < 0.01
    ring = make_mixture(1000, layout="ring", modes=8, spacing=1.0)
    gaps = (ring.centers - ring.centers.roll(1, 0)).norm(dim=1)
    assert torch.allclose(gaps, torch.ones(8), atol=1e-5)
    same = make_mixture(100, seed=3)
    assert torch.equal(same.x, make_mixture(100, seed=3).x)
    with pytest.raises(ValueError, match="square number"):
        make_mixture(10, modes=8)
    with pytest.raises(ValueError, match="layout"):
        make_mixture(10, layout="spiral")


def test_mixture_log_density_integrates_to_one():
    data = make_mixture(10, layout="grid", modes=9, spacing=1.0, std=0.2)
    g = torch.linspace(-3, 3, 601, dtype=torch.float64)
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    total = data.log_density(pts).exp().sum() * (g[1] - g[0]) ** 2
    assert total.item() == pytest.approx(1.0, abs=1e-3)


def test_data_itself_covers_every_mode_and_is_near_them():
    data = make_mixture(5000, std=0.05)
    cov = mode_coverage(data.x, data.centers, data.std)
    assert cov["modes_covered"] == 25
    # a 2-D Gaussian puts 1 - exp(-9/2) = 98.9% of its mass within 3 sigma
    assert cov["near_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert sum(cov["counts"]) == round(cov["near_fraction"] * 5000)


def test_mode_coverage_counts_dropped_modes_and_ignores_strays():
    data = make_mixture(5000, std=0.05)
    kept = data.x[data.mode < 10]  # a generator that found only 10 modes
    strays = data.centers[10:15] + 0.01  # and put one sample on each of five others
    cov = mode_coverage(torch.cat([kept, strays]), data.centers, data.std)
    assert cov["modes_covered"] == 10
    between = data.centers[:20] + 0.5  # in the middle of four modes: near none
    assert mode_coverage(between, data.centers, data.std)["near_fraction"] == 0.0
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(torch.full((3, 2), float("nan")), data.centers, data.std)


def test_label_spread():
    uniform = label_spread(torch.arange(10).repeat(7))
    assert uniform["entropy"] == pytest.approx(math.log(10))
    assert uniform["shares"] == pytest.approx([0.1] * 10)
    assert str(label_spread([3] * 50)["entropy"]) == "0.0"
    assert label_spread([0, 1] * 20)["entropy"] == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="class indices"):
        label_spread([0, 10])


def test_samples_over_data_draws_one_opaque_panel_per_model():
    from matplotlib.colors import to_rgba

    from vaelib.plots import samples_over_data

    data = make_mixture(500, layout="ring", modes=8, spacing=1.5, std=0.1)
    fig = samples_over_data(data.x, {"a": data.x[:100], "b": torch.zeros(50, 2)}, centers=data.centers,
                            std=data.std, title="two models")
    assert to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert all(len(ax.patches) == 8 for ax in axes)  # one 3-sigma circle per mode
    with pytest.raises(ValueError, match="empty"):
        samples_over_data(data.x, {})
    with pytest.raises(ValueError, match="NaN"):
        samples_over_data(data.x, {"diverged": torch.full((3, 2), float("nan"))})


def test_sharpness_by_hand():
    # A 3x3 image with a corner of ink: the four pixels with a right and a lower neighbour have
    # gradients (1, 0), (0, 0), (1, 0) and (0, -1), magnitudes 1, 0, 1, 1; every pixel is 0 or 1.
    corner = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    grey = torch.full((3, 3), 0.5)  # no edge, no decisive pixel
    assert sharpness(corner[None, None]) == pytest.approx({"edge": 0.75, "decisive": 1.0})
    assert sharpness(torch.stack([corner, grey])[:, None]) == pytest.approx({"edge": 0.375, "decisive": 0.5})
    # one pixel with steps 0.3 to the right and 0.4 down: a gradient of length 0.5; 0 and 0.95 are
    # within 0.1 of 0 or 1, 0.3 and 0.4 are not
    tilted = np.array([[[0.0, 0.3], [0.4, 0.95]]])
    assert sharpness(tilted) == pytest.approx({"edge": 0.5, "decisive": 0.5})
    assert sharpness(tilted, margin=0.35)["decisive"] == pytest.approx(0.75)


def test_blurring_lowers_sharpness():
    images = (torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    blurred = torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    sharp, soft = sharpness(images), sharpness(blurred)
    assert soft["edge"] < sharp["edge"] and soft["decisive"] < sharp["decisive"] == 1.0


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(4, 1, 1, 28), "H, W >= 2"),
    (torch.zeros(4, 28), "H, W >= 2"),
    (torch.full((2, 1, 4, 4), 1.5), "[0, 1]"),
    (torch.full((2, 1, 4, 4), float("nan")), "finite"),
])
def test_sharpness_refuses_what_is_not_an_image_in_the_unit_range(bad, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        sharpness(bad)
    with pytest.raises(ValueError, match="below 0.5"):
        sharpness(torch.zeros(1, 2, 2), margin=0.5)
