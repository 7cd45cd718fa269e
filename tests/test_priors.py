"""vaelib.priors and the VAE's prior hook: densities against torch.distributions, sampling,
the unchanged standard-prior model, checkpoints, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import vaelib
from vaelib.priors import MixturePrior, StandardNormalPrior, VampPrior, make_prior

SHAPE = (1, 6, 6)


def _mixture_oracle(means, logvars, log_weights):
    return MixtureSameFamily(Categorical(logits=log_weights),
                             Independent(Normal(means, torch.exp(0.5 * logvars)), 1))


def _small_vae(prior=None, seed=0, **kw):
    torch.manual_seed(seed)
    return vaelib.VAE(3, hidden=(16,), image_shape=SHAPE, prior=prior, **kw)


def test_standard_normal_log_prob_matches_torch():
    z = torch.randn(4, 5, 3, dtype=torch.float64)
    want = Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1).log_prob(z)
    torch.testing.assert_close(StandardNormalPrior(3).log_prob(z), want, rtol=0, atol=1e-12)


def test_mixture_log_prob_matches_mixture_same_family():
    prior = MixturePrior(4, components=7, seed=3).double()
    with torch.no_grad():
        prior.logvars.uniform_(-2.0, 1.0)
        prior.logits.normal_()
    z = torch.randn(11, 2, 4, dtype=torch.float64) * 2
    want = _mixture_oracle(prior.means, prior.logvars, prior.logits).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), want, rtol=1e-10, atol=1e-10)
    assert prior.log_prob(z).shape == (11, 2)


def test_one_component_mixture_is_a_gaussian():
    prior = MixturePrior(2, components=1).double()
    z = torch.randn(5, 2, dtype=torch.float64)
    want = Independent(Normal(prior.means[0], torch.ones(2, dtype=torch.float64)), 1).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), want)


def test_vamp_log_prob_is_the_mixture_of_encoded_pseudo_inputs():
    vae = _small_vae({"kind": "vamp", "components": 5}).double()
    mu, logvar = vae.encode(vae.prior.pseudo_inputs())  # (5, 3) each
    z = torch.randn(9, 3, dtype=torch.float64)
    want = _mixture_oracle(mu, logvar, torch.zeros(5, dtype=torch.float64)).log_prob(z)
    torch.testing.assert_close(vae.log_prior(z), want, rtol=1e-10, atol=1e-10)
    assert ((vae.prior.pseudo_inputs() >= 0) & (vae.prior.pseudo_inputs() <= 1)).all()


def test_vamp_gradients_reach_pseudo_inputs_and_encoder():
    vae = _small_vae("vamp")
    vae.log_prior(torch.randn(8, 3)).sum().backward()
    assert vae.prior.pseudo_logits.grad.abs().sum() > 0
    assert all(p.grad is not None for p in vae.encoder.parameters())


@pytest.mark.parametrize("kind", ["standard", "mixture", "vamp"])
def test_sample_shapes_and_generator_repeats(kind):
    vae = _small_vae(None if kind == "standard" else kind)
    z1 = vae.prior.sample(50, generator=torch.Generator().manual_seed(1))
    z2 = vae.prior.sample(50, generator=torch.Generator().manual_seed(1))
    assert z1.shape == (50, 3) and torch.equal(z1, z2)
    assert vae.sample(6).shape == (6, *SHAPE)


def test_standard_sample_moments():
    z = StandardNormalPrior(2).sample(200_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), torch.ones(2), atol=0.02, rtol=0)


def test_mixture_sample_moments_match_the_mixture():
    prior = MixturePrior(2, components=3, seed=5)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-4.0, 0.0], [0.0, 3.0], [5.0, 5.0]]))
        prior.logvars.copy_(torch.log(torch.tensor([[0.25], [1.0], [4.0]])).expand(3, 2))
        prior.logits.copy_(torch.log(torch.tensor([0.5, 0.3, 0.2])))
    z = prior.sample(200_000, generator=torch.Generator().manual_seed(0))
    w = torch.tensor([0.5, 0.3, 0.2]).unsqueeze(1)
    mean = (w * prior.means).sum(0).detach()
    var = (w * (prior.logvars.exp() + prior.means**2)).sum(0).detach() - mean**2
    torch.testing.assert_close(z.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), var, atol=0.0, rtol=0.02)


def test_standard_prior_vae_is_unchanged():
    # Same seed: the same weights as a model built without the argument, no extra state, and the
    # ELBO's KL is the closed form.
    plain, hooked = _small_vae(), _small_vae(None)
    assert plain.state_dict().keys() == hooked.state_dict().keys()
    assert "prior" not in plain.config
    for a, b in zip(plain.state_dict().values(), hooked.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(8, *SHAPE).round()
    torch.manual_seed(4)
    terms = vaelib.elbo(plain, x)
    torch.manual_seed(4)
    logits, mu, logvar, _ = plain(x)
    rec = vaelib.bernoulli_log_likelihood(logits, x).mean()
    kl = vaelib.kl_standard_normal(mu, logvar).mean()
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.elbo, rec - kl)
    z = torch.randn(5, 3)
    torch.testing.assert_close(plain.log_prior(z), Independent(Normal(torch.zeros(3), 1.0), 1).log_prob(z))


def test_learned_prior_kl_is_the_one_sample_estimate():
    vae = _small_vae("mixture")
    x = torch.rand(8, *SHAPE).round()
    torch.manual_seed(2)
    terms = vaelib.elbo(vae, x)
    torch.manual_seed(2)
    _, mu, logvar, z = vae(x)
    log_q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).log_prob(z)
    torch.testing.assert_close(terms.kl, (log_q - vae.log_prior(z)).mean())
    terms.loss.backward()
    assert vae.prior.means.grad.abs().sum() > 0  # the prior is trained by the ELBO


def test_mixture_kl_estimate_averages_to_the_closed_form_when_it_is_the_standard_prior():
    # A one-component mixture at N(0, I) is the standard prior: the Monte Carlo KL must average to
    # the closed form.
    vae = _small_vae({"kind": "mixture", "components": 1})
    with torch.no_grad():
        vae.prior.means.zero_()
    x = torch.rand(4, *SHAPE).round().repeat(5000, 1, 1, 1)
    with torch.no_grad():
        terms = vaelib.elbo(vae, x)
        mu, logvar = vae.encode(x)
    assert abs(float(terms.kl) - float(vaelib.kl_standard_normal(mu, logvar).mean())) < 0.05


def test_importance_sampling_uses_the_learned_prior():
    vae = _small_vae("mixture")
    x = torch.rand(3, *SHAPE).round()
    shifted = _small_vae("mixture")
    shifted.load_state_dict(vae.state_dict())
    with torch.no_grad():
        shifted.prior.means.add_(50.0)  # a prior far from every code: log p(x) collapses
    a = vaelib.importance_log_likelihood(vae, x, samples=20)
    b = vaelib.importance_log_likelihood(shifted, x, samples=20)
    assert (b < a - 100).all()


@pytest.mark.parametrize("spec", ["mixture", {"kind": "vamp", "components": 4, "seed": 3}])
def test_checkpoint_round_trip_with_a_learned_prior(tmp_path, spec):
    vae = _small_vae(spec)
    with torch.no_grad():
        for p in vae.prior.parameters():
            p.add_(0.3)
    path = vaelib.save_checkpoint(vae, tmp_path / "prior.pt")
    loaded = vaelib.load_checkpoint(path)
    assert loaded.config["prior"] == vae.config["prior"]
    assert type(loaded.prior) is type(vae.prior)
    z = torch.randn(7, 3)
    torch.testing.assert_close(loaded.log_prior(z), vae.eval().log_prior(z))


def test_free_bits_with_a_learned_prior_is_refused():
    with pytest.raises(ValueError, match="free_bits"):
        vaelib.elbo(_small_vae("mixture"), torch.rand(2, *SHAPE).round(), free_bits=0.5)


@pytest.mark.parametrize("components", [0, -1, 2.5, True])
def test_zero_components_is_a_clear_error(components):
    with pytest.raises(ValueError, match="components must be a positive integer"):
        MixturePrior(2, components=components)
    with pytest.raises(ValueError, match="components must be a positive integer"):
        _small_vae({"kind": "vamp", "components": components})


def test_unknown_prior_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown"):
        make_prior("laplace", 2)
    with pytest.raises(ValueError, match="does not take"):
        make_prior({"kind": "mixture", "components": 3, "scale": 2}, 2)


def test_vamp_without_an_encoder_says_what_to_do():
    with pytest.raises(RuntimeError, match="attach"):
        VampPrior(2, components=3, image_shape=SHAPE).log_prob(torch.zeros(1, 2))


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.nan])
def test_non_positive_sigma_is_a_clear_error(sigma):
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        vaelib.VAE(2, likelihood="gaussian", sigma=sigma)


def test_gaussian_model_refuses_images_outside_the_unit_interval():
    vae = _small_vae(likelihood="gaussian", sigma=0.3)
    x = torch.rand(4, *SHAPE)
    vaelib.elbo(vae, x)  # grey levels in [0, 1] are fine
    with pytest.raises(ValueError, match=r"Gaussian decoder's mean is a sigmoid"):
        vaelib.elbo(vae, (x - 0.1307) / 0.3081)  # normalised images
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vaelib.elbo(vae, x * 255)


def test_wrong_code_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        _small_vae("mixture").log_prior(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        MixturePrior(2).sample(0)
