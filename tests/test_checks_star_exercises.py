"""The ★★★ exercises of chapters 1-3: any correct answer passes, each typical mistake gets its
own explanation, and bad answers (wrong shape, wrong type, NaN) get a clear message."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.checks import autoencoders as ch1
from vaelib.checks import elbo as ch2
from vaelib.checks import reparameterization as ch3


def _run(check, answer, seed):
    return check.decide(check.collect(answer, seed=seed), seed=seed, strict=False)


# ------------------------------------------------------------------ chapter 1: codes that decode

def _spacing(z):
    gaps = torch.cdist(z, z)
    gaps.fill_diagonal_(float("inf"))
    return gaps.min(dim=1).values.median()


def jitter(z, n, gen):
    start = z[torch.randint(len(z), (n,), generator=gen)]
    return start + 0.5 * _spacing(z) / z.shape[1] ** 0.5 * torch.randn(n, z.shape[1], generator=gen)


def between_neighbours(z, n, gen):
    gaps = torch.cdist(z, z)
    gaps.fill_diagonal_(float("inf"))
    i = torch.randint(len(z), (n,), generator=gen)
    near = gaps[i].topk(5, largest=False).indices
    j = near[torch.arange(n), torch.randint(5, (n,), generator=gen)]
    return z[i] + torch.rand(n, 1, generator=gen) * (z[j] - z[i])


@pytest.mark.parametrize("sampler", [jitter, between_neighbours])
@pytest.mark.parametrize("seed", [None, 7, 123])
def test_code_sampler_accepts_different_correct_samplers(sampler, seed):
    result = _run(ch1.check_code_sampler, sampler, seed)
    assert result.passed, result.message


def _box(z, n, gen):
    low, high = z.min(0).values, z.max(0).values
    return low + (high - low) * torch.rand(n, z.shape[1], generator=gen)


def _gaussian(z, n, gen):
    return z.mean(0) + torch.randn(n, z.shape[1], generator=gen) @ torch.linalg.cholesky(torch.cov(z.T)).T


def _one_group(z, n, gen):
    return jitter(z[torch.cdist(z[:1], z)[0].topk(100, largest=False).indices], n, gen)


@pytest.mark.parametrize("wrong,hint", [
    (_box, "fill the box"),
    (_gaussian, "one Gaussian fitted"),
    (lambda z, n, gen: torch.randn(n, z.shape[1], generator=gen), "N(0, I)"),
    (lambda z, n, gen: z[torch.randint(len(z), (n,), generator=gen)], "exact copies"),
    (lambda z, n, gen: z[torch.randint(len(z), (n,), generator=gen)] + 3 * _spacing(z) * torch.randn(n, z.shape[1], generator=gen), "too long"),
    (_one_group, "unevenly"),
    (lambda z, n, gen: jitter(z, n, gen)[:, :1], "shape"),
    (lambda z, n, gen: jitter(z, n, gen).tolist(), "tensor"),
    (lambda z, n, gen: jitter(z, n, gen) / 0 * 0, "NaN"),
])
def test_code_sampler_explains_each_mistake(wrong, hint):
    result = _run(ch1.check_code_sampler, wrong, 11)
    assert not result.passed and hint in result.message, result.message


def test_code_sampler_fresh_clouds_differ_and_a_constant_fails():
    a, _, _ = ch1.code_cloud(3, 2)
    b, _, _ = ch1.code_cloud(4, 2)
    assert not torch.allclose(a, b)
    fixed = jitter(a, 1000, torch.Generator().manual_seed(0))  # right for seed 3, replayed for seed 4
    result = _run(ch1.check_code_sampler, lambda z, n, gen: fixed.expand(n, z.shape[1]) if z.shape[1] == 2 else fixed, 4)
    assert not result.passed


# ------------------------------------------------------------------ chapter 2: two modes

def _fit(start: float):
    def fn(x, s):
        m = torch.tensor(start, requires_grad=True)
        logvar = torch.tensor(0.0, requires_grad=True)
        optimizer = torch.optim.Adam([m, logvar], lr=0.05)
        for _ in range(500):
            optimizer.zero_grad()
            (-ch2.squared_decoder_elbo(x, m, logvar, s)).backward()
            optimizer.step()
        return m.item(), logvar.item()
    return fn


def _grid(x, s):
    ms = torch.linspace(-3, 0, 301, dtype=torch.float64)[:, None]  # the negative mode this time
    ls = torch.linspace(-8, 2, 201, dtype=torch.float64)[None, :]
    values = ch2.squared_decoder_elbo(x, ms, ls, s)
    i = int(torch.argmax(values))
    return float(ms[i // values.shape[1], 0]), float(ls[0, i % values.shape[1]])


@pytest.mark.parametrize("answer", [_fit(1.0), _fit(-1.0), _grid], ids=["adam+", "adam-", "grid"])
@pytest.mark.parametrize("seed", [None, 5])
def test_best_gaussian_q_accepts_either_mode_and_any_method(answer, seed):
    result = _run(ch2.check_best_gaussian_q, answer, seed)
    assert result.passed, result.message


def test_best_gaussian_q_reference_numbers():
    m, logvar, best = ch2.best_gaussian_elbo(3.0, 0.5)
    gap = ch2.squared_decoder_log_marginal(3.0, 0.5) - best
    assert 0.6 < gap < 0.75 and abs(gap - math.log(2)) < 0.05  # one of two modes: about log 2
    assert m > 1.5 and best >= float(ch2.squared_decoder_elbo(3.0, -m, logvar, 0.5)) - 1e-9


def _best_then(change):
    def fn(x, s):
        m, logvar, _ = ch2.best_gaussian_elbo(x, s)
        return change(m, logvar, x)
    return fn


@pytest.mark.parametrize("wrong,hint", [
    (lambda x, s: (0.0, 0.0), "the prior"),
    (_best_then(lambda m, lv, x: (0.0, lv)), "saddle"),
    (_best_then(lambda m, lv, x: (0.0, math.log(max(x, 0.1)))), "covers both modes"),
    (_best_then(lambda m, lv, x: (m, math.exp(lv))), "looks like the variance"),
    (_best_then(lambda m, lv, x: (m, 0.0)), "the variance is not"),
    (_best_then(lambda m, lv, x: (m + 0.5, lv)), "the best has m"),
    (lambda x, s: (float("nan"), 0.0), "finite"),
    (lambda x, s: 1.0, "pair of numbers"),
])
def test_best_gaussian_q_explains_each_mistake(wrong, hint):
    result = _run(ch2.check_best_gaussian_q, wrong, 9)
    assert not result.passed and hint in result.message, result.message


# ------------------------------------------------------------------ chapter 3: a better baseline

def _line_leave_one_out(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    fz, u, n = f(z), z - mu, eps.shape[1]

    def others(t):
        return (t.sum(dim=1, keepdim=True) - t) / (n - 1)

    beta = (others(u * fz) - others(u) * others(fz)) / (others(u * u) - others(u) ** 2)
    alpha = others(fz) - beta * others(u)
    return ((fz - alpha - beta * u) * eps / sigma + beta).mean(dim=1)


def _taylor(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    at = mu.detach().clone().requires_grad_(True)
    f_mu = f(at)
    beta = torch.autograd.grad(f_mu, at)[0] if f_mu.requires_grad else torch.zeros((), dtype=mu.dtype)
    z = mu + sigma * eps
    return ((f(z) - f_mu.detach() - beta * (z - mu)) * eps / sigma).mean(dim=1) + beta


@pytest.mark.parametrize("answer", [_line_leave_one_out, _taylor])
@pytest.mark.parametrize("seed", [None, 17])
def test_control_variate_accepts_different_estimators(answer, seed):
    result = _run(ch3.check_control_variate, answer, seed)
    assert result.passed, result.message


def _plain(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    return (f(mu + sigma * eps) * eps / sigma).mean(dim=1)


def _constant_leave_one_out(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    fz = f(mu + sigma * eps)
    baseline = (fz.sum(dim=1, keepdim=True) - fz) / (eps.shape[1] - 1)
    return ((fz - baseline) * eps / sigma).mean(dim=1)


def _batch_mean(f, mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)
    fz = f(mu + sigma * eps)
    return ((fz - fz.mean(dim=1, keepdim=True)) * eps / sigma).mean(dim=1)


def _pathwise(f, mu, logvar, eps):
    z = (mu + torch.exp(0.5 * logvar) * eps).detach().requires_grad_(True)
    y = f(z)
    if not y.requires_grad:
        return torch.zeros(eps.shape[0], dtype=eps.dtype)
    return torch.autograd.grad(y.sum(), z)[0].mean(dim=1)


@pytest.mark.parametrize("wrong,hint", [
    (_plain, "nothing was subtracted"),
    (_constant_leave_one_out, "constant baseline removes the level"),
    (_batch_mean, "biased"),
    (lambda f, mu, lv, eps: _plain(f, mu, lv, eps) - f(mu + torch.exp(0.5 * lv) * eps).mean(), "biased"),
    (lambda f, mu, lv, eps: _plain(f, mu, lv, eps) * 0, "are all 0"),
    (_pathwise, "pathwise"),
    (lambda f, mu, lv, eps: _plain(f, mu, lv, eps).mean().expand(eps.shape[0]).clone(), "same number"),
    (lambda f, mu, lv, eps: _line_leave_one_out(f, mu, lv, eps) + 1e-3 * torch.arange(eps.shape[0]), "other"),
    (lambda f, mu, lv, eps: torch.stack([_plain(f, mu, lv, eps)] * 2, dim=1), "per minibatch, shape (20000,)"),
    (lambda f, mu, lv, eps: _plain(f, mu, lv, eps).tolist(), "tensor"),
    (lambda f, mu, lv, eps: _plain(f, mu, lv, eps) * float("nan"), "NaN"),
])
def test_control_variate_explains_each_mistake(wrong, hint):
    result = _run(ch3.check_control_variate, wrong, 23)
    assert not result.passed and hint in result.message, result.message


@pytest.mark.parametrize("check,answer", [(ch1.check_code_sampler, jitter), (ch2.check_best_gaussian_q, _grid),
                                          (ch3.check_control_variate, _taylor)])
def test_stubs_and_forged_seeds_fail(check, answer):
    def stub(*args):
        raise NotImplementedError

    assert "not written yet" in _run(check, stub, 3).message
    outcome = check.collect(answer, seed=3)
    assert not check.decide(outcome, seed=4, strict=False).passed  # data for other inputs
