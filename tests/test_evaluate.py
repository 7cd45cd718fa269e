from __future__ import annotations

import math

import pytest
import torch

from vaelib.data import binarize
from vaelib.evaluate import (
    active_units,
    bits_per_dim,
    encode_means,
    evaluate_elbo,
    importance_log_likelihood,
)
from vaelib.losses import elbo
from vaelib.models import VAE
from vaelib.runtime import seed_everything
from vaelib.train import fit


@pytest.fixture(scope="module")
def trained():
    seed_everything(0)
    # Binary 6x6 "images": two prototypes with pixel noise, so a 2-D latent has work to do.
    protos = torch.zeros(2, 1, 6, 6)
    protos[0, 0, :, :3] = 0.9
    protos[1, 0, :3, :] = 0.9
    grey = (protos[torch.randint(0, 2, (600,))] + 0.05).clamp(0, 1)
    model = VAE(2, hidden=(32,), image_shape=(1, 6, 6))
    fit(model, lambda m, x: elbo(m, x), grey, steps=400, batch_size=50, lr=3e-3, transform=binarize,
        progress=False)
    return model, binarize(grey[:200], torch.Generator().manual_seed(1))


def test_k1_estimate_is_the_elbo(trained):
    model, x = trained
    iw1 = importance_log_likelihood(model, x, samples=1, seed=3).mean()
    e = evaluate_elbo(model, x, seed=4)["elbo"]
    assert abs(float(iw1) - e) < 0.5  # two independent one-sample estimates of the same mean


def test_importance_estimate_is_above_elbo_and_grows_with_k(trained):
    model, x = trained
    means = [float(importance_log_likelihood(model, x, samples=k, seed=0).mean()) for k in (1, 10, 100)]
    assert means[0] <= means[1] + 1e-6 <= means[2] + 2e-6
    assert means[2] > evaluate_elbo(model, x)["elbo"]


def test_chunking_does_not_change_the_estimate(trained):
    """All K codes are drawn before the chunks are decoded: any chunk size gives the same numbers."""
    model, x = trained
    whole = importance_log_likelihood(model, x, samples=256, seed=0, max_elements=10**9)
    assert whole.shape == (200,)
    for per_chunk in (1, 5, 37):
        chunked = importance_log_likelihood(model, x, samples=256, seed=0, max_elements=100 * 36 * per_chunk)
        assert torch.equal(chunked, whole), per_chunk
    assert torch.equal(importance_log_likelihood(model, x, samples=256, seed=0), whole)  # the default
    with pytest.raises(ValueError, match="max_elements"):
        importance_log_likelihood(model, x, samples=4, max_elements=0)


def test_estimate_is_a_log_probability_of_binary_data(trained):
    model, x = trained
    assert (importance_log_likelihood(model, x, samples=50) < 0).all()


def test_elbo_per_example_matches_means(trained):
    model, x = trained
    per = evaluate_elbo(model, x, per_example=True)
    means = evaluate_elbo(model, x)
    assert per["elbo"].shape == (200,)
    assert math.isclose(float(per["elbo"].mean()), means["elbo"], rel_tol=1e-6)
    assert torch.allclose(per["elbo"], per["reconstruction"] - per["kl"])


def test_bits_per_dim_needs_the_number_of_dimensions():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    assert bits_per_dim(100.0, dims=64) == pytest.approx(100 / (64 * math.log(2)))
    with pytest.raises(TypeError):
        bits_per_dim(100.0)  # no MNIST default: 8x8 digits or sprites have other sizes
    with pytest.raises(ValueError, match=r"x\[0\]\.numel\(\)"):
        bits_per_dim(100.0, 0)


def test_active_units_counts_dimensions_that_move():
    model = VAE(4, hidden=(), image_shape=(1, 6, 6))
    with torch.no_grad():
        layer = model.encoder.net[0]  # Linear(36, 8): rows 0-3 are mu, 4-7 logvar
        layer.weight[2:4].zero_()
        layer.bias[2:4].zero_()
    x = torch.rand(300, 1, 6, 6)
    count, variances = active_units(model, x)
    assert count == 2 and variances.shape == (4,)
    assert torch.allclose(variances[2:], torch.zeros(2))
    assert torch.equal(variances, encode_means(model, x).var(dim=0))


def test_samples_must_be_positive(trained):
    model, x = trained
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        importance_log_likelihood(model, x, samples=0)
