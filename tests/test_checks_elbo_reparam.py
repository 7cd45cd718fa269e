"""The exercise checks of chapters 2 and 3: reference answers pass, stubs and common mistakes get
the message meant for them."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.checks import CheckFailed
from vaelib.checks import elbo as ch2
from vaelib.checks import reparameterization as ch3

NOT_WRITTEN = "not written yet"


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("VAELIB_STRICT_CHECKS", raising=False)


def _stub(*args, **kwargs):
    raise NotImplementedError("write this function")


def _fails_with(result, text: str) -> None:
    assert not result.passed, result
    assert text in result.message, result.message


# --- chapter 2 ------------------------------------------------------------------------------


def kl_reference(mu_q, logvar_q, mu_p, logvar_p):
    per_dim = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)
    return per_dim.sum(dim=1)


def test_kl_two_gaussians_reference_and_stub():
    assert ch2.check_kl_two_gaussians(kl_reference).passed
    _fails_with(ch2.check_kl_two_gaussians(_stub), NOT_WRITTEN)


@pytest.mark.parametrize("wrong, hint", [
    (lambda mq, lq, mp, lp: kl_reference(mp, lp, mq, lq), "other direction"),
    (lambda mq, lq, mp, lp: 2 * kl_reference(mq, lq, mp, lp), "factor 1/2"),
    (lambda mq, lq, mp, lp: kl_reference(mq, lq, mp, lp) / mq.shape[1], "averaged over the latent"),
    (lambda mq, lq, mp, lp: kl_reference(mq, lq, mp, lp) + 0.5 * mq.shape[1], "-1"),
    (lambda mq, lq, mp, lp: -kl_reference(mq, lq, mp, lp), "sign"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq + ((0.5 * lq).exp() + (mq - mp) ** 2)
                                   / (0.5 * lp).exp() - 1).sum(1), "standard deviation"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1), "(B, D)"),
    (lambda mq, lq, mp, lp: kl_reference(mq, lq, mp, lp).mean(), "whole batch"),
])
def test_kl_two_gaussians_hints(wrong, hint):
    _fails_with(ch2.check_kl_two_gaussians(wrong), hint)


def elbo_reference(x, m, logvar, a, b, s):
    v = torch.exp(logvar)
    expected_log_lik = -0.5 * torch.log(2 * math.pi * s**2) - ((x - a * m - b) ** 2 + a**2 * v) / (2 * s**2)
    expected_log_prior = -0.5 * math.log(2 * math.pi) - (m**2 + v) / 2
    entropy = 0.5 * (math.log(2 * math.pi) + logvar + 1)
    return expected_log_lik + expected_log_prior + entropy


def test_elbo_linear_gaussian_reference_and_stub():
    result = ch2.check_elbo_linear_gaussian(elbo_reference)
    assert result.passed, result
    _fails_with(ch2.check_elbo_linear_gaussian(_stub), NOT_WRITTEN)


def test_elbo_linear_gaussian_hints():
    def no_entropy(x, m, logvar, a, b, s):
        return elbo_reference(x, m, logvar, a, b, s) - 0.5 * (math.log(2 * math.pi) + logvar + 1)

    def no_variance(x, m, logvar, a, b, s):
        v = torch.exp(logvar)
        return elbo_reference(x, m, logvar, a, b, s) + a**2 * v / (2 * s**2) + v / 2

    _fails_with(ch2.check_elbo_linear_gaussian(no_entropy), "entropy of q")
    _fails_with(ch2.check_elbo_linear_gaussian(no_variance), "m^2 + v")


def fit_q_reference(elbo_fn, steps: int = 1000, lr: float = 0.05):
    m = torch.zeros((), requires_grad=True)
    logvar = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([m, logvar], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (-elbo_fn(m, logvar)).backward()
        opt.step()
    return m.item(), logvar.item()


def test_fit_q_reference_stub_and_hints():
    assert ch2.check_fit_q(fit_q_reference).passed
    _fails_with(ch2.check_fit_q(_stub), NOT_WRITTEN)

    def returns_variance(elbo_fn):
        m, logvar = fit_q_reference(elbo_fn)
        return m, math.exp(logvar)

    def minimises(elbo_fn):
        return fit_q_reference(lambda m, lv: -elbo_fn(m, lv), steps=200)

    def too_short(elbo_fn):
        return fit_q_reference(elbo_fn, steps=5)

    _fails_with(ch2.check_fit_q(returns_variance), "you returned the variance")
    _fails_with(ch2.check_fit_q(minimises), "minimise")
    _fails_with(ch2.check_fit_q(too_short), "more steps")


def test_encoder_only_answers():
    assert ch2.check_encoder_only("b").passed
    assert ch2.check_encoder_only(" (B) ").passed
    _fails_with(ch2.check_encoder_only(None), NOT_WRITTEN)
    _fails_with(ch2.check_encoder_only("a"), "decoder alone")
    _fails_with(ch2.check_encoder_only("z"), "one letter")


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("VAELIB_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        ch2.check_encoder_only("a")


# --- chapter 3 ------------------------------------------------------------------------------


def score_reference(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    fz = f(mu + sigma * eps)
    return torch.stack([fz * eps / sigma, 0.5 * fz * (eps**2 - 1)], dim=1)


def test_score_function_gradient_reference_and_stub():
    assert ch3.check_score_function_gradient(score_reference).passed
    _fails_with(ch3.check_score_function_gradient(_stub), NOT_WRITTEN)


def test_score_function_gradient_hints():
    def no_sigma(f, mu, logvar, eps):
        out = score_reference(f, mu, logvar, eps)
        out[:, 0] = out[:, 0] * torch.exp(0.5 * logvar)
        return out

    def no_minus_one(f, mu, logvar, eps):
        out = score_reference(f, mu, logvar, eps)
        out[:, 1] = 0.5 * f(mu + torch.exp(0.5 * logvar) * eps) * eps**2
        return out

    def pathwise(f, mu, logvar, eps):
        sigma = torch.exp(0.5 * logvar)
        z = mu + sigma * eps
        return torch.stack([2 * (z - 3), 2 * (z - 3) * 0.5 * sigma * eps], dim=1)

    _fails_with(ch3.check_score_function_gradient(no_sigma), "forgot to divide by sigma")
    _fails_with(ch3.check_score_function_gradient(no_minus_one), "-1/2")
    _fails_with(ch3.check_score_function_gradient(pathwise), "pathwise estimator")
    _fails_with(ch3.check_score_function_gradient(lambda *a: score_reference(*a).T), "(2, N)")


def variance_ratio_reference(c: float, n: int = 100_000, seed: int = 0) -> float:
    eps = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    score = (eps - c) ** 2 * eps
    pathwise = 2 * (eps - c)
    return float(score.var() / pathwise.var())


def test_variance_ratio_reference_stub_and_hints():
    assert ch3.check_variance_ratio(variance_ratio_reference).passed
    _fails_with(ch3.check_variance_ratio(_stub), NOT_WRITTEN)
    _fails_with(ch3.check_variance_ratio(lambda c, n, seed: 1 / variance_ratio_reference(c, n, seed)),
                "upside down")
    _fails_with(ch3.check_variance_ratio(
        lambda c, n, seed: math.sqrt(variance_ratio_reference(c, n, seed))), "standard deviations")
    _fails_with(ch3.check_variance_ratio(lambda c, n, seed: variance_ratio_reference(0.0, n, seed)),
                "does not change with c")


def test_discrete_answer():
    assert ch3.check_discrete_answer("b").passed
    _fails_with(ch3.check_discrete_answer(None), NOT_WRITTEN)
    _fails_with(ch3.check_discrete_answer("a"), "step function")
    _fails_with(ch3.check_discrete_answer("d"), "differentiable in theta")
