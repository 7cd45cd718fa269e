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
