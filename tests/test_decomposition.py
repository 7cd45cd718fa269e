"""The KL decomposition (MI + TC + dimension-wise KL) against closed forms and the full mixture.

Everything in float64. The reference is :func:`exact_kl_decomposition`, itself checked against
closed forms (identical posteriors, a factorised mixture, well-separated posteriors) and against
a trapezoid integral; the minibatch estimators are then checked against it on a small random data
set whose latents are correlated (so that all three terms are well away from 0).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import Normal

from vaelib.decomposition import (
    TCElboTerms,
    beta_tc_elbo,
    exact_kl_decomposition,
    kl_decomposition,
)
from vaelib.losses import elbo, kl_standard_normal
from vaelib.models import VAE
from vaelib.train import fit

TERMS = ("mi", "tc", "dwkl")


pytestmark = pytest.mark.usefixtures("float64_default")


def _correlated_posteriors(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """N posteriors in 3-D whose means lie near a plane (so TC > 0), with overlapping spreads."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64  # explicit: a module-scoped fixture runs before the float64 default is set
    u = torch.randn(n, 2, generator=g, dtype=f64)  # (N, 2) -> (N, 3) through a fixed mixing matrix
    mix = torch.tensor([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]], dtype=f64)
    mu = 1.2 * u @ mix.T
    logvar = torch.empty(n, 3, dtype=f64).uniform_(math.log(0.05), math.log(0.4), generator=g)
    return mu, logvar


def _draw(mu, logvar, g):
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)


def _log_q_given_x(z, mu, logvar):
    return Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(dim=1)


def _log_prior(z):
    return Normal(0.0, 1.0).log_prob(z).sum(dim=1)


def _average_estimate(mu, logvar, batch, estimator, epochs, seed=1):
    """Batch means of the three terms averaged over every batch of ``epochs`` shuffled passes."""
    g = torch.Generator().manual_seed(seed)
    n = mu.shape[0]
    sums, count = dict.fromkeys(TERMS, 0.0), 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for start in range(0, n - batch + 1, batch):  # without replacement, as fit draws batches
            idx = order[start:start + batch]
            out = kl_decomposition(_draw(mu[idx], logvar[idx], g), mu[idx], logvar[idx],
                                   dataset_size=n, estimator=estimator)
            for k in TERMS:
                sums[k] += float(out[k].mean())
            count += 1
    return {k: v / count for k, v in sums.items()}


# ------------------------------------------------------------ the minibatch estimators


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_terms_sum_to_the_one_sample_kl(estimator):
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g)
    z = _draw(mu, logvar, g)
    out = kl_decomposition(z, mu, logvar, dataset_size=1000, estimator=estimator)
    one_sample_kl = _log_q_given_x(z, mu, logvar) - _log_prior(z)
    assert set(out) == {"mi", "tc", "dwkl", "kl"}
    assert all(v.shape == (16,) for v in out.values())
    torch.testing.assert_close(out["kl"], one_sample_kl, rtol=0, atol=1e-10)
    torch.testing.assert_close(out["mi"] + out["tc"] + out["dwkl"], one_sample_kl, rtol=0, atol=1e-10)


def test_the_one_sample_kl_averages_to_the_closed_form():
    # E_z[log q(z|x) - log p(z)] = KL(q(z|x) || p(z)): the sum of the terms is unbiased for the KL.
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(8, 3, generator=g), 0.5 * torch.randn(8, 3, generator=g)
    draws = torch.stack([sum(kl_decomposition(_draw(mu, logvar, g), mu, logvar, dataset_size=100)[k]
                             for k in TERMS).mean() for _ in range(1000)])
    se = float(draws.std() / math.sqrt(draws.numel()))
    assert abs(float(draws.mean()) - float(kl_standard_normal(mu, logvar).mean())) < 4 * se


def test_stratified_full_batch_is_the_full_mixture():
    # With the whole data set in the batch, log q(z) and each log q(z_j) are the exact mixtures.
    mu, logvar = _correlated_posteriors(12)
    g = torch.Generator().manual_seed(0)
    z = _draw(mu, logvar, g)
    out = kl_decomposition(z, mu, logvar, dataset_size=12)
    std = torch.exp(0.5 * logvar)
    per_dim = Normal(mu.unsqueeze(0), std.unsqueeze(0)).log_prob(z.unsqueeze(1))  # (12, 12, 3)
    log_qz = torch.logsumexp(per_dim.sum(dim=2), dim=1) - math.log(12)
    log_prod = (torch.logsumexp(per_dim, dim=1) - math.log(12)).sum(dim=1)
    torch.testing.assert_close(out["mi"], _log_q_given_x(z, mu, logvar) - log_qz, rtol=0, atol=1e-10)
    torch.testing.assert_close(out["tc"], log_qz - log_prod, rtol=0, atol=1e-10)


def test_stratified_density_estimate_is_unbiased_over_batches():
    # Every batch that holds example 0 (the other 2 drawn from the remaining 6 without
    # replacement) equally often: the mean of the estimated q(z_0) is the mixture q(z_0) exactly.
    n, m = 7, 3
    mu, logvar = _correlated_posteriors(n, seed=2)
    z0 = torch.tensor([[0.3, -0.2, 0.5]])
    estimates = []
    for others in itertools.combinations(range(1, n), m - 1):
        idx = torch.tensor([0, *others])
        z = torch.cat([z0, mu[list(others)]])  # the other rows' z do not enter row 0's estimate
        mi = kl_decomposition(z, mu[idx], logvar[idx], dataset_size=n)["mi"][0]
        log_qz0 = _log_q_given_x(z0, mu[:1], logvar[:1])[0] - mi  # mi = log q(z|x) - log q(z)
        estimates.append(torch.exp(log_qz0))
    mixture = torch.exp(_log_q_given_x(z0.expand(n, 3), mu, logvar)).mean()
    torch.testing.assert_close(torch.stack(estimates).mean(), mixture, rtol=1e-12, atol=0)


def test_mws_is_the_batch_as_data_set_shifted_by_constants():
    # MWS's log q(z) = log((1/M) sum_j q(z|x_j)) - log N: the stratified estimate with N = M,
    # moved by log N. So MI gains log N, TC (D - 1) log N and the dimension-wise KL loses D log N.
    n, d = 5000, 4
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(32, d, generator=g), torch.randn(32, d, generator=g)
    z = _draw(mu, logvar, g)
    mws = kl_decomposition(z, mu, logvar, dataset_size=n, estimator="mws")
    batch_alone = kl_decomposition(z, mu, logvar, dataset_size=32, estimator="mss")
    shift = {"mi": math.log(n), "tc": (d - 1) * math.log(n), "dwkl": -d * math.log(n)}
    for k in TERMS:
        torch.testing.assert_close(mws[k], batch_alone[k] + shift[k], rtol=0, atol=1e-9)


def test_identical_posteriors_have_no_mi_and_no_tc_in_every_batch():
    # q(z) is then the one Gaussian: the stratified weights sum to 1 and the split is exact.
    mu = torch.tensor([[0.5, -1.0, 0.2]]).expand(20, 3)
    logvar = torch.tensor([[-1.0, 0.3, -0.5]]).expand(20, 3)
    g = torch.Generator().manual_seed(0)
    z = _draw(mu, logvar, g)
    out = kl_decomposition(z, mu, logvar, dataset_size=500)
    torch.testing.assert_close(out["mi"], torch.zeros(20), rtol=0, atol=1e-12)
    torch.testing.assert_close(out["tc"], torch.zeros(20), rtol=0, atol=1e-12)
    mws = kl_decomposition(z, mu, logvar, dataset_size=500, estimator="mws")
    torch.testing.assert_close(mws["mi"], torch.full((20,), math.log(500)), rtol=0, atol=1e-12)


def test_separated_posteriors_give_mi_log_n_and_mws_log_nm():
    # Far-apart posteriors: q(z) near z_i is q(z|x_i) / N, so MI = log N for every sample; MWS
    # gives that posterior the weight 1/(N M) and so MI = log N + log M.
    n, m = 1000, 16
    mu = 100.0 * torch.arange(m, dtype=torch.float64).unsqueeze(1).expand(m, 2).contiguous()
    logvar = torch.full((m, 2), 2 * math.log(0.01))
    z = _draw(mu, logvar, torch.Generator().manual_seed(0))
    mss = kl_decomposition(z, mu, logvar, dataset_size=n)
    mws = kl_decomposition(z, mu, logvar, dataset_size=n, estimator="mws")
    torch.testing.assert_close(mss["mi"], torch.full((m,), math.log(n)), rtol=0, atol=1e-9)
    torch.testing.assert_close(mws["mi"], torch.full((m,), math.log(n * m)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_minibatch_estimates_match_a_brute_force_loop(estimator):
    # Every log-density written out with torch.distributions, one sample and one posterior at a
    # time, with the weights the module's docstring states.
    m, d, n = 5, 3, 20
    mu, logvar = _correlated_posteriors(m, seed=3)
    z = _draw(mu, logvar, torch.Generator().manual_seed(2))
    out = kl_decomposition(z, mu, logvar, dataset_size=n, estimator=estimator)
    std = torch.exp(0.5 * logvar)

    def weight(i, j):
        if estimator == "mws":
            return 1 / (n * m)
        return 1 / n if i == j else (n - 1) / (n * (m - 1))

    for i in range(m):
        joint = sum(weight(i, j) * math.exp(float(Normal(mu[j], std[j]).log_prob(z[i]).sum()))
                    for j in range(m))
        marginals = [sum(weight(i, j) * math.exp(float(Normal(mu[j, k], std[j, k]).log_prob(z[i, k])))
                         for j in range(m)) for k in range(d)]
        log_own = float(Normal(mu[i], std[i]).log_prob(z[i]).sum())
        log_prior = float(Normal(0.0, 1.0).log_prob(z[i]).sum())
        log_prod = sum(math.log(q) for q in marginals)
        want = {"mi": log_own - math.log(joint), "tc": math.log(joint) - log_prod,
                "dwkl": log_prod - log_prior, "kl": log_own - log_prior}
        for k, v in want.items():
            assert float(out[k][i]) == pytest.approx(v, abs=1e-10), (k, i)


@pytest.fixture(scope="module")
def reference():
    """A random data set of 64 posteriors and its three terms with the full mixture."""
    mu, logvar = _correlated_posteriors(64)
    return mu, logvar, exact_kl_decomposition(mu, logvar, samples=1000)


def test_stratified_estimator_matches_the_full_mixture(reference):
    # The reference: MI 2.60, TC 0.96, DWKL 0.30 nats, Monte Carlo standard errors 0.0044.
    # The stratified log q(z) is biased only through the log of an unbiased estimate: the bias
    # vanishes when the batch is the whole data set (tolerance 0.035: about 4 standard errors of
    # the difference) and grows as the batch shrinks, in MI and DWKL (measured: +0.10 and -0.09
    # nats at M = N/2, +0.27 and -0.28 at M = N/4) but hardly in TC (|bias| <= 0.02 at every M),
    # as log q(z) and the log q(z_j) are biased alike.
    mu, logvar, exact = reference
    n = mu.shape[0]
    assert exact["tc"] > 0.5  # a case where TC is far from 0
    full = _average_estimate(mu, logvar, batch=n, estimator="mss", epochs=400)
    for k in TERMS:
        assert full[k] == pytest.approx(exact[k], abs=0.035), k
    bias = {m: {k: v - exact[k] for k, v in _average_estimate(mu, logvar, batch=m, estimator="mss",
                                                             epochs=150).items()}
            for m in (n // 2, n // 4)}
    for m in bias:
        assert abs(bias[m]["tc"]) < 0.05, m
        assert 0.03 < bias[m]["mi"] < 0.4 and -0.4 < bias[m]["dwkl"] < -0.03, m
    assert bias[n // 4]["mi"] > bias[n // 2]["mi"] + 0.1


def test_mws_estimator_against_the_full_mixture(reference):
    # MWS at M = N: exactly the full-mixture terms shifted by (log N, (D-1) log N, -D log N).
    # At M < N the shift of each log-density lies between log M and log N, so TC is off by
    # several nats: MWS's numbers are not the terms, only its gradient is of use.
    mu, logvar, exact = reference
    n, d = mu.shape
    full = _average_estimate(mu, logvar, batch=n, estimator="mws", epochs=400)
    shift = {"mi": math.log(n), "tc": (d - 1) * math.log(n), "dwkl": -d * math.log(n)}
    for k in TERMS:
        assert full[k] == pytest.approx(exact[k] + shift[k], abs=0.035), k
    half = _average_estimate(mu, logvar, batch=n // 2, estimator="mws", epochs=150)
    assert half["tc"] - exact["tc"] > (d - 1) * math.log(n // 2) - 0.5


# ------------------------------------------------------------------ the full-mixture reference


def test_exact_identical_posteriors():
    mu = torch.tensor([[0.5, -1.0, 0.2]]).expand(50, 3)
    logvar = torch.tensor([[-1.0, 0.3, -0.5]]).expand(50, 3)
    out = exact_kl_decomposition(mu, logvar, samples=20)
    single = float(kl_standard_normal(mu[:1], logvar[:1])[0])
    assert out["mi"] == pytest.approx(0.0, abs=1e-12)
    assert out["tc"] == pytest.approx(0.0, abs=1e-12)
    assert out["dwkl"] == pytest.approx(single, abs=1e-10)
    assert out["kl"] == pytest.approx(single, abs=1e-12)


def test_exact_factorised_mixture_has_no_tc():
    # Means on a 5 x 4 grid with shared variances: q(z) = q(z_1) q(z_2) exactly.
    a, b = torch.linspace(-2, 2, 5), torch.tensor([-1.5, -0.2, 0.4, 2.0])
    mu = torch.cartesian_prod(a, b)  # (20, 2)
    logvar = torch.tensor([[-1.2, -0.4]]).expand(20, 2)
    out = exact_kl_decomposition(mu, logvar, samples=200)
    assert out["tc"] == pytest.approx(0.0, abs=1e-10)
    assert out["mi"] > 0.5
    assert out["mi"] + out["tc"] + out["dwkl"] == pytest.approx(out["kl"], abs=4 * out["sum_se"] + 1e-9)


@pytest.mark.parametrize("d", [1, 2])
def test_exact_separated_posteriors(d):
    # N far-apart posteriors: MI = log N; in one dimension q(z) is its own marginal, so TC = 0.
    n, s = 10, 0.01
    mu = 100.0 * torch.arange(n, dtype=torch.float64).unsqueeze(1) * torch.arange(1, d + 1)
    logvar = torch.full((n, d), 2 * math.log(s))
    out = exact_kl_decomposition(mu, logvar, samples=50)
    assert out["mi"] == pytest.approx(math.log(n), abs=1e-9)
    # Each marginal is also N separated components: its entropy is log N + the component's.
    neg_entropy = -math.log(n) - 0.5 * math.log(2 * math.pi * math.e * s**2)
    cross = [0.5 * math.log(2 * math.pi) + 0.5 * float((mu[:, j] ** 2).mean() + s**2) for j in range(d)]
    assert out["dwkl"] == pytest.approx(sum(neg_entropy + c for c in cross), rel=1e-9)
    assert out["tc"] == pytest.approx((d - 1) * math.log(n), abs=1e-9)  # N of N^d cells occupied
    assert out["mi"] + out["tc"] + out["dwkl"] == pytest.approx(out["kl"], rel=1e-9)


def test_exact_dimension_wise_kl_against_a_trapezoid_integral(reference):
    mu, logvar, exact = reference
    grid = torch.linspace(-10, 10, 40_001)  # step 5e-4; the narrowest posterior has sd 0.22
    total = 0.0
    for j in range(mu.shape[1]):
        q = Normal(mu[:, j:j + 1], torch.exp(0.5 * logvar[:, j:j + 1])).log_prob(grid).exp().mean(0)
        p = Normal(0.0, 1.0).log_prob(grid).exp()
        keep = q > 0
        total += float(torch.trapezoid(q[keep] * (q[keep].log() - p[keep].log()), grid[keep]))
    assert exact["dwkl"] == pytest.approx(total, abs=1e-7)


def test_exact_mi_and_tc_against_a_grid_integral():
    # Two dimensions, so that MI and TC are plain double integrals over a fine grid: the check of
    # the Monte Carlo half of exact_kl_decomposition (the rest is checked in closed form above).
    mu, logvar = _correlated_posteriors(8, seed=5)
    mu, logvar = mu[:, :2], logvar[:, :2]  # means near the diagonal: correlated, so TC > 0
    exact = exact_kl_decomposition(mu, logvar, samples=4000)
    axis = torch.linspace(-7, 7, 701)  # step 0.02; the narrowest posterior has sd 0.22
    z1, z2 = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([z1, z2], dim=-1).unsqueeze(2)  # (G, G, 1, 2)
    std = torch.exp(0.5 * logvar)
    q_n = Normal(mu, std).log_prob(grid).sum(-1).exp()  # (G, G, N): each posterior's density
    q = q_n.mean(-1)  # the aggregate posterior
    q_1 = Normal(mu[:, 0], std[:, 0]).log_prob(axis.unsqueeze(1)).exp().mean(-1)  # (G,) marginals
    q_2 = Normal(mu[:, 1], std[:, 1]).log_prob(axis.unsqueeze(1)).exp().mean(-1)

    def integral(f):  # (G, G) -> the double trapezoid integral
        return float(torch.trapezoid(torch.trapezoid(f, axis, dim=1), axis))

    tiny = 1e-300
    mi = sum(integral(q_n[..., k] * (q_n[..., k].clamp_min(tiny).log() - q.clamp_min(tiny).log()))
             for k in range(mu.shape[0])) / mu.shape[0]
    tc = integral(q * (q.clamp_min(tiny).log() - (q_1.unsqueeze(1) * q_2.unsqueeze(0)).clamp_min(tiny).log()))
    assert tc > 0.1 and mi > 0.5  # all three terms well away from 0
    assert exact["mi"] == pytest.approx(mi, abs=4 * exact["mi_se"])
    assert exact["tc"] == pytest.approx(tc, abs=4 * exact["tc_se"])
    assert mi + tc + exact["dwkl"] == pytest.approx(exact["kl"], abs=1e-4)


def test_exact_terms_sum_to_the_closed_form_kl(reference):
    _, _, exact = reference
    assert max(exact[f"{k}_se"] for k in ("mi", "tc")) < 0.005
    assert exact["mi"] + exact["tc"] + exact["dwkl"] == pytest.approx(exact["kl"], abs=4 * exact["sum_se"])


def test_minimising_the_estimated_tc_lowers_the_true_tc():
    # The gradient of the stratified TC, full batch, moves correlated means towards a factorised q(z).
    mu0, logvar = _correlated_posteriors(32, seed=4)
    mu = mu0.clone().requires_grad_(True)
    opt = torch.optim.Adam([mu], lr=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        tc = kl_decomposition(_draw(mu, logvar, g), mu, logvar, dataset_size=32)["tc"].mean()
        opt.zero_grad()
        tc.backward()
        opt.step()
    before = exact_kl_decomposition(mu0, logvar, samples=200)["tc"]
    after = exact_kl_decomposition(mu.detach(), logvar, samples=200)["tc"]
    assert after < 0.5 * before


# ------------------------------------------------------------------------------ the loss


def _tiny_vae_and_batch(batch=8):
    torch.manual_seed(0)
    model = VAE(3, hidden=(16,), image_shape=(1, 4, 4))
    x = (torch.rand(batch, 1, 4, 4) > 0.5).to(torch.float64)
    return model, x


def test_beta_one_is_exactly_the_elbo():
    model, x = _tiny_vae_and_batch()
    torch.manual_seed(5)
    tc_terms = beta_tc_elbo(model, x, beta=1, dataset_size=100)
    torch.manual_seed(5)
    plain = elbo(model, x)
    assert isinstance(tc_terms, TCElboTerms)
    for k in ("loss", "reconstruction", "kl", "elbo"):
        assert torch.equal(getattr(tc_terms, k), getattr(plain, k)), k


def test_beta_weights_only_the_tc_and_the_terms_split_the_sampled_kl():
    model, x = _tiny_vae_and_batch()
    torch.manual_seed(7)
    one = beta_tc_elbo(model, x, beta=1, dataset_size=100)
    torch.manual_seed(7)
    six = beta_tc_elbo(model, x, beta=6, dataset_size=100)
    torch.testing.assert_close(six.loss - one.loss, 5 * six.tc, rtol=0, atol=1e-10)
    torch.manual_seed(7)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)  # the draw beta_tc_elbo made
    sampled_kl = (_log_q_given_x(z, mu, logvar) - _log_prior(z)).mean()
    torch.testing.assert_close(six.mi + six.tc + six.dwkl, sampled_kl, rtol=0, atol=1e-10)
    assert all(getattr(six, k).shape == () for k in ("loss", "reconstruction", "kl", "elbo", *TERMS))


def test_gradients_flow_to_every_parameter_and_the_tc_reaches_the_encoder():
    model, x = _tiny_vae_and_batch()
    terms = beta_tc_elbo(model, x, beta=6, dataset_size=100)
    terms.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    model.zero_grad()
    beta_tc_elbo(model, x, beta=6, dataset_size=100).tc.backward()
    encoder_grads = [p.grad for p in model.encoder.parameters()]
    assert all(gr is not None for gr in encoder_grads)
    assert sum(float(gr.abs().sum()) for gr in encoder_grads) > 0


def test_fit_records_the_split_and_the_loss_is_the_weighted_sum():
    model, x = _tiny_vae_and_batch(batch=40)
    beta = 4.0
    history = fit(model, lambda m, xb: beta_tc_elbo(m, xb, beta=beta, dataset_size=len(x)), x,
                  steps=6, batch_size=10, progress=False)
    t = {k: torch.tensor(v) for k, v in history.train.items()}
    assert set(t) >= {"loss", "reconstruction", "kl", "elbo", *TERMS}
    assert len(history.steps) == 6
    torch.testing.assert_close(t["loss"], -(t["reconstruction"] - t["kl"]) + (beta - 1) * t["tc"],
                               rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------ bad input


def test_bad_inputs_raise_clear_errors():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    z = _draw(mu, logvar, g)
    with pytest.raises(ValueError, match="smaller than the batch of 8"):
        kl_decomposition(z, mu, logvar, dataset_size=4)
    for bad in (100.0, True, None):
        with pytest.raises(ValueError, match="dataset_size must be"):
            kl_decomposition(z, mu, logvar, dataset_size=bad)
    with pytest.raises(ValueError, match="same shape"):
        kl_decomposition(z, mu[:, :2], logvar, dataset_size=100)
    with pytest.raises(ValueError, match="same shape"):
        kl_decomposition(z[:4], mu, logvar, dataset_size=100)
    with pytest.raises(ValueError, match=r"\(batch, latent_dim\)"):
        kl_decomposition(z[:, 0], mu[:, 0], logvar[:, 0], dataset_size=100)
    with pytest.raises(ValueError, match="at least 2"):
        kl_decomposition(z[:1], mu[:1], logvar[:1], dataset_size=100)
    nan_mu = mu.clone()
    nan_mu[2, 1] = float("nan")
    with pytest.raises(ValueError, match="mu holds NaN"):
        kl_decomposition(z, nan_mu, logvar, dataset_size=100)
    with pytest.raises(ValueError, match="estimator='exact' is unknown"):
        kl_decomposition(z, mu, logvar, dataset_size=100, estimator="exact")
    with pytest.raises(ValueError, match="same shape"):
        exact_kl_decomposition(mu, logvar[:5])
    with pytest.raises(ValueError, match="samples must be"):
        exact_kl_decomposition(mu, logvar, samples=0)


def test_beta_tc_elbo_rejects_bad_arguments():
    model, x = _tiny_vae_and_batch()
    for beta in (0, -1.0, float("nan"), float("inf"), True, "4"):
        with pytest.raises(ValueError, match="beta must be a positive number"):
            beta_tc_elbo(model, x, beta=beta, dataset_size=100)
    with pytest.raises(ValueError, match="smaller than the batch"):
        beta_tc_elbo(model, x, beta=4, dataset_size=x.shape[0] - 1)
    nan_x = x.clone()
    nan_x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x holds NaN"):
        beta_tc_elbo(model, nan_x, beta=4, dataset_size=100)
    mixture_model = VAE(3, hidden=(16,), image_shape=(1, 4, 4), prior="mixture")
    with pytest.raises(ValueError, match="learned prior"):
        beta_tc_elbo(mixture_model, x, beta=4, dataset_size=100)
