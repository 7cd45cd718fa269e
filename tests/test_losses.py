"""The objective against PyTorch's own distributions, in float64 on random inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaelib.losses import (
    bernoulli_log_likelihood,
    check_unit_interval,
    conditional_elbo,
    elbo,
    elbo_per_example,
    gaussian_log_likelihood,
    kl_diagonal_gaussians,
    kl_standard_normal,
    kl_standard_normal_per_dim,
    log_normal_diagonal,
)
from vaelib.models import VAE, ConditionalVAE

pytestmark = pytest.mark.usefixtures("float64_default")


def _diag(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_kl_to_standard_normal_matches_torch():
    mu, logvar = torch.randn(64, 7) * 2, torch.randn(64, 7)
    expected = kl_divergence(_diag(mu, logvar), _diag(torch.zeros_like(mu), torch.zeros_like(mu)))
    assert torch.allclose(kl_standard_normal(mu, logvar), expected, atol=1e-10)


def test_kl_between_diagonal_gaussians_matches_torch():
    mu_q, lv_q, mu_p, lv_p = (torch.randn(32, 5) * s for s in (2, 1, 2, 1))
    expected = kl_divergence(_diag(mu_q, lv_q), _diag(mu_p, lv_p))
    assert torch.allclose(kl_diagonal_gaussians(mu_q, lv_q, mu_p, lv_p), expected, atol=1e-10)


def test_kl_general_reduces_to_standard_normal_case():
    mu, logvar = torch.randn(10, 4), torch.randn(10, 4)
    zeros = torch.zeros(4)
    assert torch.allclose(kl_diagonal_gaussians(mu, logvar, zeros, zeros), kl_standard_normal(mu, logvar))


def test_kl_is_zero_only_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 6)
    assert torch.allclose(kl_standard_normal(zeros, zeros), torch.zeros(3))
    assert (kl_standard_normal(torch.randn(100, 6), torch.randn(100, 6)) > 0).all()


def test_kl_per_dim_sums_to_total():
    mu, logvar = torch.randn(8, 5), torch.randn(8, 5)
    assert torch.allclose(kl_standard_normal_per_dim(mu, logvar).sum(1), kl_standard_normal(mu, logvar))


def test_bernoulli_log_likelihood_matches_torch():
    logits = torch.randn(16, 1, 28, 28) * 3
    x = torch.bernoulli(torch.rand(16, 1, 28, 28))
    expected = Independent(Bernoulli(logits=logits), 3).log_prob(x)
    assert torch.allclose(bernoulli_log_likelihood(logits, x), expected, atol=1e-9)


def test_bernoulli_is_a_probability_for_binary_data():
    logits, x = torch.randn(4, 3), torch.bernoulli(torch.full((4, 3), 0.5))
    assert (bernoulli_log_likelihood(logits, x) <= 0).all()


def test_gaussian_log_likelihood_matches_torch():
    mean, x, log_sigma = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4), math.log(0.3)
    expected = Independent(Normal(mean, 0.3), 3).log_prob(x)
    assert torch.allclose(gaussian_log_likelihood(mean, x, log_sigma), expected, atol=1e-9)


def test_log_normal_diagonal_matches_torch():
    z, mu, logvar = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    assert torch.allclose(log_normal_diagonal(z, mu, logvar), _diag(mu, logvar).log_prob(z))


@pytest.mark.parametrize("bad", [torch.tensor([0.5, 1.5]), torch.tensor([-0.1, 0.2]),
                                 torch.tensor([float("nan"), 0.2])])
def test_bernoulli_term_rejects_data_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r"in \[0, 1\].*Divide grey levels"):
        bernoulli_log_likelihood(torch.zeros(1, 2), bad.reshape(1, 2))
    with pytest.raises(ValueError):
        check_unit_interval(bad)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="logits has shape .* but x has shape"):
        bernoulli_log_likelihood(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="mu has shape"):
        kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 4))


def test_elbo_terms_are_per_example_means_and_beta_weights_the_kl():
    torch.manual_seed(0)
    model = VAE(3, hidden=(8,), image_shape=(1, 4, 4)).double()
    x = torch.bernoulli(torch.rand(10, 1, 4, 4))
    torch.manual_seed(1)
    t1 = elbo(model, x, beta=1.0)
    torch.manual_seed(1)
    t4 = elbo(model, x, beta=4.0)
    assert torch.allclose(t1.elbo, t1.reconstruction - t1.kl)
    assert torch.allclose(t1.loss, -t1.elbo)
    assert torch.allclose(t4.loss, -(t4.reconstruction - 4.0 * t4.kl))
    # the reduction: the batch mean of per-example sums
    torch.manual_seed(1)
    logits, mu, logvar, _ = model(x)
    assert torch.allclose(t1.kl, kl_standard_normal(mu, logvar).mean())
    assert torch.allclose(t1.reconstruction, bernoulli_log_likelihood(logits, x).mean())


def test_free_bits_floor_the_penalised_kl_per_dimension():
    torch.manual_seed(0)
    model = VAE(4, hidden=(8,), image_shape=(1, 4, 4)).double()
    x = torch.bernoulli(torch.rand(10, 1, 4, 4))
    torch.manual_seed(2)
    plain = elbo(model, x)
    torch.manual_seed(2)
    floored = elbo(model, x, free_bits=10.0)  # far above any dimension's KL at initialisation
    assert torch.allclose(floored.loss, -(floored.reconstruction - 4 * 10.0))
    assert torch.allclose(plain.kl, floored.kl)  # the reported KL is untouched


def test_gaussian_vae_uses_the_sigmoid_of_the_logits_as_its_mean():
    model = VAE(2, hidden=(8,), image_shape=(1, 4, 4), likelihood="gaussian", sigma=0.5).double()
    logits, x = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    expected = Independent(Normal(torch.sigmoid(logits), 0.5), 3).log_prob(x)
    assert torch.allclose(model.log_likelihood(logits, x), expected)


def test_bernoulli_models_score_the_logits_as_pixel_probabilities():
    x = torch.bernoulli(torch.full((3, 1, 4, 4), 0.4))
    logits = torch.randn(3, 1, 4, 4)
    expected = Independent(Bernoulli(logits=logits), 3).log_prob(x)
    for model in (VAE(2, hidden=(8,), image_shape=(1, 4, 4)),
                  ConditionalVAE(2, hidden=(8,), image_shape=(1, 4, 4), num_classes=3)):
        assert torch.allclose(model.log_likelihood(logits, x), expected, atol=1e-5)


def test_elbo_and_conditional_elbo_share_one_computation():
    # The same seed gives the same noise, so the same terms, whether the batch mean comes from
    # elbo/conditional_elbo or from the per-example terms they are built on.
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.4))
    y = torch.arange(6) % 3
    cvae = ConditionalVAE(2, hidden=(8,), image_shape=(1, 4, 4), num_classes=3)
    for model, args, whole in ((VAE(2, hidden=(8,), image_shape=(1, 4, 4)), (), elbo),
                               (cvae, (y,), conditional_elbo)):
        torch.manual_seed(3)
        terms = whole(model, x, *args)
        torch.manual_seed(3)
        rec, kl_per_dim = elbo_per_example(model, x, *args)
        assert rec.shape == (6,) and kl_per_dim.shape == (6, 2)
        assert torch.allclose(terms.reconstruction, rec.mean())
        assert torch.allclose(terms.kl, kl_per_dim.sum(1).mean())
        mu, logvar = model.encode(x, *args)
        assert torch.allclose(kl_per_dim, kl_standard_normal_per_dim(mu, logvar))
