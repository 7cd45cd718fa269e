"""The pitfall exercises' checks catch the pitfalls: torch.normal and Normal.sample() (chapter 3),
a wrong aggregate-posterior variance (chapter 5)."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from vaelib.checks.pathologies import check_aggregate_moments
from vaelib.checks.reparameterization import check_differentiable_sample


def _verdict(check, fn, seed=7):
    return check.decide(check.collect(fn, seed=seed), seed=seed, strict=False)


@pytest.mark.parametrize("fn", [
    lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn_like(mu),
    lambda mu, logvar: Normal(mu, torch.exp(0.5 * logvar)).rsample(),
])
def test_reparameterized_samples_pass(fn):
    assert _verdict(check_differentiable_sample, fn).passed


@pytest.mark.parametrize(("fn", "says"), [
    (lambda mu, logvar: torch.normal(mu, torch.exp(0.5 * logvar)), "torch.normal"),
    (lambda mu, logvar: Normal(mu, torch.exp(0.5 * logvar)).sample(), "sample()"),
    (lambda mu, logvar: mu + logvar.exp() * torch.randn_like(mu), "standard deviation"),
    (lambda mu, logvar: mu + torch.exp(0.5 * logvar.detach()) * torch.randn_like(mu) + 0 * logvar, "dz/dlogvar"),
    (lambda mu, logvar: mu + torch.exp(0.5 * logvar.detach()) * torch.randn_like(mu), "only one"),
    (lambda mu, logvar: (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))[:10], "shape"),
])
def test_the_pitfalls_are_caught_and_named(fn, says):
    result = _verdict(check_differentiable_sample, fn)
    assert not result.passed and says in result.message


def test_aggregate_moments_reference_passes_and_mistakes_are_named():
    right = lambda mu, logvar: (mu.mean(0), logvar.exp().mean(0) + mu.var(0, unbiased=False))  # noqa: E731
    assert _verdict(check_aggregate_moments, right).passed
    means_only = lambda mu, logvar: (mu.mean(0), mu.var(0, unbiased=False))  # noqa: E731
    assert "spread of the means" in _verdict(check_aggregate_moments, means_only).message
    posterior_only = lambda mu, logvar: (mu.mean(0), logvar.exp().mean(0))  # noqa: E731
    assert "average posterior variance" in _verdict(check_aggregate_moments, posterior_only).message


def test_aggregate_moments_matches_a_monte_carlo_draw():
    # The reference formula is the variance of draws from the mixture.
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(50, 3, generator=gen, dtype=torch.float64) * 2, torch.randn(50, 3, generator=gen, dtype=torch.float64)
    idx = torch.randint(0, 50, (400_000,), generator=gen)
    z = mu[idx] + torch.exp(0.5 * logvar[idx]) * torch.randn(400_000, 3, generator=gen, dtype=torch.float64)
    want = logvar.exp().mean(0) + mu.var(0, unbiased=False)
    torch.testing.assert_close(z.var(0), want, rtol=0.02, atol=0)
