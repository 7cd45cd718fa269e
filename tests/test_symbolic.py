"""The sympy derivations of chapters 2 and 3 give the known results, checked against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaelib import losses, symbolic
from vaelib.checks import elbo as elbo_checks


@pytest.fixture(scope="module")
def model() -> symbolic.LinearGaussian:
    return symbolic.linear_gaussian_model()


def _syms(names: str, **assumptions):
    return sp.symbols(names, **assumptions)


# --- the ELBO identity and Jensen's inequality ------------------------------------------------


def test_jensen_steps():
    steps = symbolic.jensen_steps()
    w = sp.Symbol("w", positive=True)
    assert sp.simplify(steps["second_derivative"] + 1 / w**2) == 0  # log is concave
    assert steps["gap_at_equal_weights"] == 0
    q, w1, w2 = sp.Symbol("q", positive=True), *_syms("w_1 w_2", positive=True)
    # the gap is positive away from w1 = w2 for a two-point q
    value = steps["gap"].subs({q: sp.Rational(1, 3), w1: 2, w2: 5})
    assert float(value) > 0


def test_identity_pointwise_and_discrete():
    assert symbolic.elbo_identity_steps()["residual"] == 0
    for k in (2, 3, 4):
        assert symbolic.elbo_identity_discrete_residual(k) == 0
    with pytest.raises(ValueError):
        symbolic.elbo_identity_discrete_residual(1)


# --- the Gaussian KL ------------------------------------------------------------------------


def test_univariate_kl_closed_form_equals_integral():
    steps = symbolic.gaussian_kl_univariate_steps()
    assert steps["residual"] == 0
    # An independent oracle: sympy integrates the unstandardised integral directly.
    direct = steps["integral"].doit()
    diff = sp.simplify(sp.expand_log(direct - steps["closed_form"], force=True))
    assert diff == 0


def test_univariate_kl_matches_torch_float64():
    kl = symbolic.gaussian_kl_univariate()
    mu1, mu2 = _syms("mu_1 mu_2", real=True)
    s1, s2 = _syms("sigma_1 sigma_2", positive=True)
    f = sp.lambdify((mu1, s1, mu2, s2), kl, modules="numpy")
    gen = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(2, 50, generator=gen, dtype=torch.float64)
    v1, v2 = torch.rand(2, 50, generator=gen, dtype=torch.float64) * 3 + 0.1
    want = kl_divergence(Normal(m1, v1), Normal(m2, v2))
    got = torch.as_tensor(f(m1.numpy(), v1.numpy(), m2.numpy(), v2.numpy()))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_standard_normal_kl_is_the_vae_formula():
    mu, ell = _syms("mu ell", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    vae = (mu**2 + sp.exp(ell) - 1 - ell) / 2
    assert sp.simplify(symbolic.gaussian_kl_standard_normal("logvar") - vae) == 0
    by_sigma = (mu**2 + sigma**2 - 1) / 2 - sp.log(sigma)
    assert sp.simplify(symbolic.gaussian_kl_standard_normal("sigma") - by_sigma) == 0
    with pytest.raises(ValueError, match="parameterization"):
        symbolic.gaussian_kl_standard_normal("std")


def test_diagonal_kl_is_sum_and_matches_vaelib_and_torch():
    steps = symbolic.gaussian_kl_diagonal_steps(2)
    assert steps["residual"] == 0
    d = 4
    diag = symbolic.gaussian_kl_diagonal(d)
    f = sp.lambdify((diag.mu, diag.ell), diag.expr, modules="numpy")
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(6, d, generator=gen, dtype=torch.float64)
    logvar = torch.randn(6, d, generator=gen, dtype=torch.float64)
    got = torch.as_tensor(np.array([f(m.numpy(), lv.numpy()) for m, lv in zip(mu, logvar, strict=True)]))
    want = kl_divergence(Independent(Normal(mu, (0.5 * logvar).exp()), 1),
                         Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.kl_standard_normal(mu, logvar), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        symbolic.gaussian_kl_diagonal(0)


# --- the linear-Gaussian model ---------------------------------------------------------------


def test_identity_simplifies_to_zero(model):
    assert symbolic.elbo_identity_residual(model) == 0


def test_optimum_q_is_the_posterior_and_tight(model):
    best = symbolic.optimal_q(model)
    assert sp.simplify(best[model.m] - model.posterior_mean) == 0
    assert sp.simplify(best[model.v] - model.posterior_var) == 0
    gap = sp.simplify(sp.expand_log(model.log_marginal - model.elbo.subs(best), force=True))
    assert gap == 0
    assert sp.simplify(model.kl_to_posterior.subs(best)) == 0


def test_posterior_matches_textbook(model):
    a, b, s, x = model.a, model.b, model.s, model.x
    assert sp.simplify(model.posterior_mean - a * (x - b) / (a**2 + s**2)) == 0
    assert sp.simplify(model.posterior_var - s**2 / (a**2 + s**2)) == 0


def test_marginal_matches_numerical_integral(model):
    values = {model.a: 2.0, model.b: 0.5, model.s: 1.0, model.x: 3.0}
    log_joint = sp.lambdify(model.z, model.log_joint.subs(values), modules="numpy")
    z, dz = np.linspace(-12, 12, 200_001, retstep=True)
    numeric = math.log(np.exp(log_joint(z)).sum() * dz)  # the tails are below 1e-30
    assert float(model.log_marginal.subs(values)) == pytest.approx(numeric, abs=1e-9)


def test_elbo_matches_the_checks_reference(model):
    # Two independent writings of the same ELBO: sympy's integral and the checks' formula.
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, m, b, a = rng.normal(size=4)
        logvar, s = rng.normal(), rng.uniform(0.2, 2.0)
        sym = float(model.elbo.subs({model.x: x, model.m: m, model.v: math.exp(logvar),
                                     model.a: a, model.b: b, model.s: s}))
        assert sym == pytest.approx(elbo_checks.linear_gaussian_elbo(x, m, logvar, a, b, s), abs=1e-10)


# --- chapter 3: gradients of an expectation ---------------------------------------------------


@pytest.mark.parametrize("f", [lambda z: (z - 3) ** 2, lambda z: z**3 - z])
def test_estimators_are_unbiased_symbolically(f):
    exact = symbolic.exact_gradient(f)
    moments = symbolic.estimator_moments(f)
    for est in ("score", "pathwise"):
        assert sp.simplify(moments[f"mean_{est}_mu"] - exact["grad_mu"]) == 0
        assert sp.simplify(moments[f"mean_{est}_ell"] - exact["grad_ell"]) == 0


def test_exact_gradient_of_quadratic():
    mu, ell = _syms("mu ell", real=True)
    exact = symbolic.exact_gradient(lambda z: (z - 3) ** 2)
    assert sp.simplify(exact["expectation"] - ((mu - 3) ** 2 + sp.exp(ell))) == 0
    assert sp.simplify(exact["grad_mu"] - 2 * (mu - 3)) == 0
    assert sp.simplify(exact["grad_ell"] - sp.exp(ell)) == 0


def test_pathwise_estimator_matches_autograd():
    est = symbolic.gradient_estimators(lambda z: (z - 3) ** 2)
    eps_s, mu_s, ell_s = _syms("epsilon mu ell", real=True)
    eps = torch.randn(100, dtype=torch.float64)
    mu = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    z = mu + torch.exp(0.5 * logvar) * eps
    rows = [torch.autograd.grad((zi - 3) ** 2, (mu, logvar), retain_graph=True) for zi in z]
    auto = torch.tensor([[float(g_mu), float(g_lv)] for g_mu, g_lv in rows], dtype=torch.float64)
    for col, key in enumerate(("pathwise_mu", "pathwise_ell")):
        f = sp.lambdify((eps_s, mu_s, ell_s), est[key], modules="numpy")
        got = torch.as_tensor(f(eps.numpy(), 0.3, -0.7))
        torch.testing.assert_close(got, auto[:, col], rtol=1e-12, atol=1e-12)


def test_score_variance_for_offset_quadratic_matches_checks():
    # mu = 0, sigma = 1: Var(score_mu) / Var(pathwise_mu) = (15 + 14 c^2 + c^4) / 4
    from vaelib.checks.reparameterization import variance_ratio_exact

    mu, ell = _syms("mu ell", real=True)
    for c in (0, 1, 3):
        m = symbolic.estimator_moments(lambda z, c=c: (z - c) ** 2)
        ratio = (m["var_score_mu"] / m["var_pathwise_mu"]).subs({mu: 0, ell: 0})
        assert float(ratio) == pytest.approx(variance_ratio_exact(c), rel=1e-12)


def test_equation_displays_latex():
    w = sp.Symbol("w", positive=True)
    shown = symbolic.equation(r"\frac{d^2}{dw^2} \log w", sp.diff(sp.log(w), w, 2), "<0")
    assert shown.data == r"\frac{d^2}{dw^2} \log w = - \frac{1}{w^{2}} = <0"
