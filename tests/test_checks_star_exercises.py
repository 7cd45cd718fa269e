"""The ★★★ exercises of chapters 1-5: any correct answer passes, each typical mistake gets its
own explanation, and bad answers (wrong shape, wrong type, NaN) get a clear message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vaelib.checks import autoencoders as ch1
from vaelib.checks import elbo as ch2
from vaelib.checks import pathologies as ch5
from vaelib.checks import reparameterization as ch3
from vaelib.checks import vae as ch4


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


# ------------------------------------------------------------------ chapter 4: the amortization gap

def _log_lik(decode, x, z):
    """log p(x|z) for codes z (S, B, d) -> (S, B), summed over the pixels."""
    s, b, d = z.shape
    logits = decode(z.reshape(s * b, d))  # (S*B, 1, H, W)
    return -F.binary_cross_entropy_with_logits(logits, x.repeat(s, 1, 1, 1), reduction="none").flatten(1).sum(1).view(s, b)


def _elbo(decode, x, mu, logvar, eps, *, kl=1.0, entropy=True):
    rec = _log_lik(decode, x, mu + torch.exp(0.5 * logvar) * eps).mean(0)
    if not entropy:  # E_q[log p(x|z)] + E_q[log p(z)]: the KL without its entropy part
        return rec - 0.5 * (mu.shape[1] * math.log(2 * math.pi) + (mu.pow(2) + logvar.exp()).sum(1))
    return rec - kl * 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def _adam(steps=100, samples=4, lr=0.1, decay=True, sign=1.0, report=None, **objective):
    def refine(decode, x, mu, logvar, generator):
        mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([mu, logvar], lr=lr)
        for step in range(steps):
            optimizer.param_groups[0]["lr"] = lr * (1 - step / steps) if decay else lr
            eps = torch.randn(samples, *mu.shape, generator=generator)
            loss = -sign * _elbo(decode, x, mu, logvar, eps, **objective).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            eps = torch.randn(64, *mu.shape, generator=generator)
            return mu.detach(), logvar.detach(), _elbo(decode, x, mu, logvar, eps, **(objective if report is None else report))
    return refine


def _lbfgs(decode, x, mu, logvar, generator):
    """Another method: fixed draws of eps (a deterministic objective) and L-BFGS."""
    eps = torch.randn(32, *mu.shape, generator=generator)
    mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([mu, logvar], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -_elbo(decode, x, mu, logvar, eps).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return mu.detach(), logvar.detach(), _elbo(decode, x, mu, logvar, torch.randn(256, *mu.shape, generator=generator))


@pytest.mark.parametrize("answer", [_adam(), _adam(60, 2), _adam(300, 1, 0.05, decay=False), _lbfgs],
                         ids=["adam", "adam-short", "adam-constant-rate", "lbfgs"])
@pytest.mark.parametrize("seed", [None, 7])
def test_refined_posterior_accepts_different_optimisers(answer, seed):
    result = _run(ch4.check_refined_posterior, answer, seed)
    assert result.passed, result.message


def test_refined_posterior_reference_is_a_tighter_bound():
    for dim in (2, 6):
        ref = ch4._gap_reference(None, dim)
        gain = ref["elbo"] - ref["start"]
        assert gain.mean() > 2 and (gain > 0).float().mean() > 0.9  # the encoder's q is beaten clearly
    ref = ch4._gap_reference(None, 2)
    gap = ref["log_px"] - ref["elbo"]  # exact log p(x) on a grid: what no Gaussian can close
    assert (gap > -0.05).all() and 0 < gap.mean() < 1
    assert (ref["log_px"] - ref["start"]).mean() > 2 * gap.mean()  # most of the encoder's gap is amortization


def _with(change):
    def refine(decode, x, mu, logvar, generator):
        return change(*_adam()(decode, x, mu, logvar, generator), decode, x, mu, logvar, generator)
    return refine


def _encoders_bound(m, lv, e, decode, x, mu, logvar, generator):
    with torch.no_grad():
        return m, lv, _elbo(decode, x, mu, logvar, torch.randn(64, *mu.shape, generator=generator))


def _unchanged(decode, x, mu, logvar, generator):
    return _encoders_bound(mu, logvar, None, decode, x, mu, logvar, generator)


@pytest.mark.parametrize("wrong,hint", [
    (_adam(kl=0.0), "leaves out the KL term"),
    (_adam(entropy=False), "leaves out the entropy"),
    (_adam(kl=-1.0), "KL is added, not subtracted"),
    (_with(lambda m, lv, e, *a: (m, lv, -e)), "-ELBO, the loss"),
    (_with(_encoders_bound), "the encoder's Gaussians, before refining"),
    (_with(lambda m, lv, e, *a: (m, lv.exp(), e)), "looks like the variance"),
    (_adam(entropy=False, report={}), "standard deviations are"),  # optimised without the entropy
    (_adam(5), "short of 75%"),
    (_adam(sign=-1.0), "the optimiser went the wrong way"),
    (_unchanged, "unchanged"),
    (_with(lambda m, lv, e, *a: (m, lv, e.mean())), "One number per image"),
    (_with(lambda m, lv, e, *a: (m, lv)), "return three tensors"),
    (_with(lambda m, lv, e, *a: (m.tolist(), lv, e)), "must be a tensor"),
    (_with(lambda m, lv, e, *a: (m, lv * float("nan"), e)), "NaN"),
    (_with(lambda m, lv, e, *a: (m, lv + 200, e)), "not finite"),
])
def test_refined_posterior_explains_each_mistake(wrong, hint):
    result = _run(ch4.check_refined_posterior, wrong, 11)
    assert not result.passed and hint in result.message, result.message


def test_refined_posterior_decoder_refuses_a_batch_of_draws():
    decode, x, mu, logvar = ch4.amortization_case(3, 6)
    assert decode(mu).shape == (32, 1, 8, 8)
    with pytest.raises(ValueError, match=r"z.reshape\(-1, d\)"):
        decode(mu.expand(4, 32, 6))
    result = _run(ch4.check_refined_posterior, lambda dec, x, mu, lv, g: (mu, lv, dec(mu.expand(4, *mu.shape))), 3)
    assert not result.passed and "codes of shape (N, 2)" in result.message


# ------------------------------------------------------------------ chapter 5: what the decoder uses

def _swap_cost(decode, x, mu, logvar, generator, draws=1):
    """Reconstruction lost when dimension i takes another image's draw (nats per image)."""
    cost = torch.zeros(mu.shape[1])
    with torch.no_grad():
        for _ in range(draws):
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
            base = _log_lik(decode, x, z[None])[0]
            other = torch.randperm(len(z), generator=generator)
            for i in range(z.shape[1]):
                swapped = z.clone()
                swapped[:, i] = z[other, i]
                cost[i] += (base - _log_lik(decode, x, swapped[None])[0]).mean() / draws
    return cost


def _swap(threshold=0.1, draws=1):
    return lambda decode, x, mu, logvar, generator: _swap_cost(decode, x, mu, logvar, generator, draws) > threshold


def _kl_dims(mu, logvar):
    return (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)


def _sensitive(decode, mu):
    with torch.no_grad():
        base = decode(mu)
        return torch.stack([(decode(mu + 0.1 * torch.eye(mu.shape[1])[i]) - base).abs().mean() > 1e-6
                            for i in range(mu.shape[1])])


def _information_and_read(decode, x, mu, logvar, generator):
    """Another method: the KL minus the aggregate posterior's own KL (information), and a decoder that reacts."""
    mean, var = mu.mean(0), logvar.exp().mean(0) + mu.var(0, unbiased=False)
    information = _kl_dims(mu, logvar) - 0.5 * (mean.pow(2) + var - 1 - var.log())
    return (information > 0.1) & _sensitive(decode, mu)


def _prior_draw(decode, x, mu, logvar, generator):
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
    base, cost = _log_lik(decode, x, z[None])[0], []
    for i in range(z.shape[1]):
        other = z.clone()
        other[:, i] = torch.randn(len(z), generator=generator)
        cost.append((base - _log_lik(decode, x, other[None])[0]).mean())
    return torch.stack(cost) > 0.1


@pytest.mark.parametrize("answer", [_swap(), _swap(0.5, 4), _information_and_read], ids=["swap", "swap-4-draws", "information"])
@pytest.mark.parametrize("seed", [None, 5, 123])
def test_decoder_uses_accepts_different_detectors(answer, seed):
    result = _run(ch5.check_decoder_uses, answer, seed)
    assert result.passed, result.message


def test_decoder_uses_planted_roles_look_as_described():
    roles, decode, x, mu, logvar = ch5.usage_case(None, 1)
    assert sorted(set(roles)) == sorted(ch5.USAGE_ROLES) and len(roles) == 12
    kl, spread = _kl_dims(mu, logvar), mu.var(0)
    cost = _swap_cost(decode, x, mu, logvar, torch.Generator().manual_seed(0), draws=4)
    for i, role in enumerate(roles):
        if role == "used":
            assert cost[i] > 5 and kl[i] > 0.5
        else:  # worth nothing to the decoder, whatever the encoder's statistics say
            assert abs(cost[i]) < 0.05, (role, cost[i])
        if role == "ignored":
            assert kl[i] > 0.5 and spread[i] > 0.5
        if role == "constant":
            assert kl[i] > 1 and spread[i] < 1e-9 and _sensitive(decode, mu)[i]
        if role == "wiggle":
            assert kl[i] < 0.1 and 0.01 < spread[i] < 0.1


@pytest.mark.parametrize("wrong,hint", [
    (lambda decode, x, mu, logvar, g: mu.var(0) > 0.01, "Active units measure the encoder"),
    (lambda decode, x, mu, logvar, g: _kl_dims(mu, logvar) > 0.1, "not information"),
    (lambda decode, x, mu, logvar, g: _sensitive(decode, mu), "Sensitivity of the decoder's output"),
    (_prior_draw, "replacing the value by a prior draw"),
    (lambda decode, x, mu, logvar, g: (_kl_dims(mu, logvar) > 0.1) & _sensitive(decode, mu), "which image it is"),
    (lambda decode, x, mu, logvar, g: _swap()(decode, x, mu, logvar, g) | ((_kl_dims(mu, logvar) > 0.1) & (mu.var(0) > 0.1)),
     "the KL measures what the encoder sends"),
    (lambda decode, x, mu, logvar, g: _swap()(decode, x, mu, logvar, g) | ((mu.var(0) > 0.01) & (mu.var(0) < 0.1)),
     "its noise may have passed your threshold"),
    (lambda decode, x, mu, logvar, g: (lambda c: c == c.max())(_swap_cost(decode, x, mu, logvar, g)),
     "Is your threshold too high"),  # only the most used dimension
    (lambda decode, x, mu, logvar, g: torch.ones(mu.shape[1], dtype=torch.bool), "all 8 dimensions"),
    (lambda decode, x, mu, logvar, g: torch.zeros(mu.shape[1], dtype=torch.bool), "none of the 8"),
    (lambda decode, x, mu, logvar, g: ~_swap()(decode, x, mu, logvar, g), "exactly inverted"),
    (lambda decode, x, mu, logvar, g: _swap_cost(decode, x, mu, logvar, g), "not the measurements"),
    (lambda decode, x, mu, logvar, g: torch.ones_like(mu, dtype=torch.bool), "shape (8,)"),
    (lambda decode, x, mu, logvar, g: _swap()(decode, x, mu, logvar, g).tolist(), "tensor of 8 booleans"),
])
def test_decoder_uses_explains_each_mistake(wrong, hint):
    result = _run(ch5.check_decoder_uses, wrong, 11)
    assert not result.passed and hint in result.message, result.message


def test_decoder_uses_takes_zeros_and_ones():
    as_int = lambda decode, x, mu, logvar, g: _swap()(decode, x, mu, logvar, g).long()  # noqa: E731
    assert _run(ch5.check_decoder_uses, as_int, 4).passed


@pytest.mark.parametrize("check,answer", [(ch1.check_code_sampler, jitter), (ch2.check_best_gaussian_q, _grid),
                                          (ch3.check_control_variate, _taylor), (ch4.check_refined_posterior, _adam(60, 2)),
                                          (ch5.check_decoder_uses, _swap())])
def test_stubs_and_forged_seeds_fail(check, answer):
    def stub(*args):
        raise NotImplementedError

    assert "not written yet" in _run(check, stub, 3).message
    outcome = check.collect(answer, seed=3)
    assert not check.decide(outcome, seed=4, strict=False).passed  # data for other inputs
