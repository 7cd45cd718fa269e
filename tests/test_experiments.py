"""vaelib.experiments: the settings, the measures and their errors, on tiny models and data.

The full experiments run in the chapters (under nbval) and in bench/claims.py; here each piece is
checked against an independent computation or a property that must hold.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import vaelib
from vaelib import experiments
from vaelib.classifier import DigitClassifier
from vaelib.evaluate import independent_pixels_log_likelihood
from vaelib.nets import mlp


def tiny_vae(latent_dim=2, **kwargs):
    torch.manual_seed(0)
    return vaelib.VAE(latent_dim, hidden=(8,), image_shape=(1, 4, 4), **kwargs).eval()


def test_the_settings_losses_are_the_elbo_with_their_weights():
    model = tiny_vae(3)
    x = torch.bernoulli(torch.rand(16, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    steps = 100
    for name, setting in experiments.PATHOLOGY_SETTINGS.items():
        if setting.likelihood != "bernoulli":
            continue
        loss = setting.loss(steps)
        weight = {"constant": 1.0, "warm-up": 10 / 50}[setting.schedule]  # step 10 of a 50-step warm-up
        torch.manual_seed(1)
        got = loss(model, x, 10).loss
        torch.manual_seed(1)
        want = vaelib.elbo(model, x, beta=setting.beta, kl_weight=weight, free_bits=setting.free_bits).loss
        assert torch.allclose(got, want), name
    assert experiments.PATHOLOGY_SETTINGS["β = 0"].beta == 0
    assert experiments.PATHOLOGY_SETTINGS["Gaussian, learned σ"].model_args() == {
        "likelihood": "gaussian", "sigma": 1.0, "learn_sigma": True}


def test_unknown_settings_and_priors_say_what_exists():
    with pytest.raises(ValueError, match="schedule='linear' is unknown"):
        experiments.PathologySetting(schedule="linear")
    with pytest.raises(ValueError, match="setting 'β = 3' is unknown; use one of"):
        experiments.pathology_vae("β = 3", torch.rand(10, 1, 28, 28))
    with pytest.raises(ValueError, match="prior 'flow' is unknown"):
        experiments.prior_vae("flow", torch.rand(10, 1, 28, 28))


def test_independent_pixels_matches_torch_distributions():
    train = torch.bernoulli(torch.rand(50, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    test = torch.bernoulli(torch.rand(7, 1, 3, 3), generator=torch.Generator().manual_seed(1))
    p = train.mean(0).clamp(1e-3, 1 - 1e-3)
    want = torch.distributions.Bernoulli(probs=p).log_prob(test).flatten(1).sum(1).mean()
    assert independent_pixels_log_likelihood(train, test) == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(ValueError, match="must match"):
        independent_pixels_log_likelihood(train, torch.rand(3, 1, 4, 4))


def test_labelled_subset_takes_n_of_each_class_and_repeats_with_its_seed():
    y = torch.arange(10).repeat(20)  # 20 of each class
    idx = experiments.labelled_subset(y, 3, seed=5)
    assert idx.shape == (30,) and torch.equal(torch.bincount(y[idx]), torch.full((10,), 3))
    assert torch.equal(idx, experiments.labelled_subset(y, 3, seed=5))
    assert not torch.equal(idx, experiments.labelled_subset(y, 3, seed=6))
    with pytest.raises(ValueError, match="n_per_class"):
        experiments.labelled_subset(y, 0, seed=0)


def test_latent_holes_needs_a_2d_code_and_counts_shares():
    with pytest.raises(ValueError, match="2-D code; this model's code has 3"):
        experiments.latent_holes(tiny_vae(3), torch.rand(20, 1, 4, 4), torch.rand(10, 1, 4, 4))
    far = experiments.latent_holes(tiny_vae(2), torch.rand(40, 1, 4, 4), torch.rand(20, 1, 4, 4).round(),
                                   draws=200)
    assert set(far) == {"uniform", "prior"} and all(0 <= v <= 1 for v in far.values())
    for v in far.values():
        assert (v * 200) == pytest.approx(round(v * 200))  # a share of 200 draws


def test_diagnose_and_kl_per_dimension_agree_with_the_closed_form():
    model = tiny_vae(3)
    x = torch.rand(12, 1, 4, 4).round()
    d = experiments.diagnose(model, x)
    mu, logvar = model.encode(x)
    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)
    assert torch.allclose(d["kl_dims"], kl.detach(), atol=1e-6)
    assert d["informative"] == int((kl > 0.1).sum()) and math.isnan(d["sigma"])
    assert d["squared_error"] == pytest.approx(
        (torch.sigmoid(model.decode(mu)) - x).pow(2).flatten(1).sum(1).mean().item(), rel=1e-5)


def test_rate_and_distortion_of_a_gaussian_decoder():
    model = tiny_vae(2, likelihood="gaussian", sigma=0.5)
    x = torch.rand(9, 1, 4, 4)
    r = experiments.rate_and_distortion(model, x)
    assert r["sigma"] == pytest.approx(0.5) and r["rate"] >= 0 and r["distortion"] >= 0


def test_anomaly_score_sets_score_every_image_with_each_detector():
    torch.manual_seed(0)
    vae, ae = tiny_vae(2), vaelib.Autoencoder(2, hidden=(8,), image_shape=(1, 4, 4)).eval()
    x = torch.rand(30, 1, 4, 4).round()
    scores = experiments.anomaly_score_sets(vae, ae, x, samples=5)
    assert set(scores) == {"VAE -ELBO", "VAE -log p(x), K = 5", "AE reconstruction error"}
    assert all(s.shape == (30,) for s in scores.values())
    # K importance samples bound log p(x) at least as tightly as the ELBO, on average
    assert scores["VAE -log p(x), K = 5"].mean() <= scores["VAE -ELBO"].mean() + 1e-4


def test_few_label_accuracies_name_every_size_and_feature():
    torch.manual_seed(0)
    images = SimpleNamespace(x=torch.rand(60, 1, 4, 4), y=torch.arange(3).repeat(20))
    out = experiments.few_label_accuracies(tiny_vae(2), images, images, (1, 5), seed=0)
    assert set(out) == {f"{f}, {n} labels per class" for f in ("codes", "pixels") for n in (1, 5)}


def test_one_mlp_builder_for_every_network():
    net = mlp([6, 5, 4, 3], activation=lambda: torch.nn.LeakyReLU(0.2), dropout=0.3)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in mlp([6, 3])] == ["Linear"]
    # the classifier is that builder's Linear -> ReLU -> Dropout -> Linear
    assert [type(m).__name__ for m in DigitClassifier(hidden=(16,)).net] == ["Linear", "ReLU", "Dropout", "Linear"]
    with pytest.raises(ValueError, match="dropout"):
        mlp([4, 2], dropout=1.0)
    with pytest.raises(ValueError, match="positive integer sizes"):
        mlp([4, 2.5])
    with pytest.raises(ValueError, match="positive integer sizes"):
        mlp([4, True])


def tiny_sprites(n=64):
    """Binary 4x4 images standing in for the sprites, with the tiny recipe that trains on them."""
    x = torch.bernoulli(torch.full((n, 1, 4, 4), 0.3), generator=torch.Generator().manual_seed(0))
    recipe = vaelib.recipes.Recipe(name="tiny", steps=6, batch_size=16, lr=1e-2, latent_dim=2,
                                   hidden=(8,), dynamic_binarization=False)
    return SimpleNamespace(x=x), recipe


def test_beta_tcvae_at_beta_one_is_the_plain_vae_of_the_same_seed():
    # Same start weights, batches and sampling noise as train_vae: at β = 1 the two losses are one
    # and the trained weights agree; at β = 4 only the TC term tells them apart.
    sprites, recipe = tiny_sprites()
    plain, _ = vaelib.recipes.train_vae(recipe, sprites.x, beta=1, seed=3, progress=False)
    tc_one, history = experiments.beta_tcvae(1, sprites, seed=3, recipe=recipe, progress=False)
    for (name, p), q in zip(plain.named_parameters(), tc_one.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
    assert {"mi", "tc", "dwkl"} <= set(history.train) and len(history.steps) == recipe.steps
    tc_four, _ = experiments.beta_tcvae(4, sprites.x, seed=3, recipe=recipe, progress=False)  # a bare tensor
    beta_four, _ = vaelib.recipes.train_vae(recipe, sprites.x, beta=4, seed=3, progress=False)
    differs = [not torch.allclose(p, q) for p, q in zip(tc_four.parameters(), beta_four.parameters(), strict=True)]
    assert any(differs)
    short, history = experiments.beta_tcvae(4, sprites, seed=3, recipe=recipe, steps=2, progress=False)
    assert len(history.steps) == 2 and not short.training


def test_beta_tcvae_rejects_bad_arguments():
    sprites, recipe = tiny_sprites()
    for beta in (0, -2.0, float("nan"), True, "4"):
        with pytest.raises(ValueError, match="beta must be a positive number"):
            experiments.beta_tcvae(beta, sprites, recipe=recipe, progress=False)
    for steps in (0, 2.5):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            experiments.beta_tcvae(4, sprites, steps=steps, recipe=recipe, progress=False)
    with pytest.raises(ValueError, match="seed must be"):
        experiments.beta_tcvae(4, sprites, seed=1.5, recipe=recipe, progress=False)
    with pytest.raises(ValueError, match="fewer than one batch of 16"):
        experiments.beta_tcvae(4, SimpleNamespace(x=sprites.x[:10]), recipe=recipe, progress=False)
    with pytest.raises(ValueError, match=r"images of shape \(N, C, H, W\); got \(64, 16\)"):
        experiments.beta_tcvae(4, sprites.x.flatten(1), recipe=recipe, progress=False)
    with pytest.raises(ValueError, match="got list"):
        experiments.beta_tcvae(4, [sprites.x], recipe=recipe, progress=False)


def test_kl_split_shares_the_sampled_kl_and_matches_the_estimator():
    sprites, _ = tiny_sprites(40)
    model = tiny_vae(3)
    split = experiments.kl_split(model, sprites.x, batch=40, seed=2)
    assert split["mi"] + split["tc"] + split["dwkl"] == pytest.approx(split["kl"], abs=1e-5)
    # One batch of all 40 images: the estimator on the same shuffle and the same draw.
    order = torch.randperm(40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mu, logvar = model.encode(sprites.x[order])
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
        want = vaelib.decomposition.kl_decomposition(z, mu, logvar, dataset_size=40)
    for k, v in want.items():
        assert split[k] == pytest.approx(float(v.mean()), abs=1e-5), k
    halves = experiments.kl_split(model, sprites.x, batch=16, seed=2)  # two batches, 8 images left out
    assert set(halves) == set(split)
    with pytest.raises(ValueError, match="at least one batch of 64"):
        experiments.kl_split(model, sprites.x, batch=64)
    with pytest.raises(ValueError, match="batch must be"):
        experiments.kl_split(model, sprites.x, batch=1)
