"""vaelib.playground, the PyTorch reference of the playground page, against PyTorch itself.

The page's JavaScript is compared with this module in tests/browser/test_playground.py; here the
module is checked against independent computations: torch.distributions for the likelihood and
the KL, autograd through those for the gradients, torch.optim.Adam for the update.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaelib.playground import (
    PARAM_NAMES,
    AdamState,
    Mulberry32,
    Playground,
    PlaygroundSettings,
    active_dims,
    adam_step,
    decode,
    encode,
    init_params,
    loss_and_grads,
    objective,
    sample_data,
)


def _batch(settings: PlaygroundSettings, seed: int = 7):
    rng = Mulberry32(seed)
    x = sample_data(rng, settings.dataset, settings.batch)
    eps = torch.tensor(rng.normals(settings.batch * settings.latent_dim), dtype=torch.float64)
    return x, eps.reshape(settings.batch, settings.latent_dim)


def _independent_loss(params, x, eps, settings, step):
    """The objective written with torch.distributions, sharing nothing with the module but encode/decode."""
    mu, logvar = encode(params, x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = q.loc + q.scale * eps
    distortion = -Normal(decode(params, z), settings.sigma).log_prob(x).sum(1).mean()
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).mean(0)  # (D,)
    if settings.free_bits > 0:
        kl = torch.maximum(kl, torch.full_like(kl, settings.free_bits))
    weight = settings.beta * (min(1.0, step / settings.warmup_steps) if settings.warmup else 1.0)
    return distortion + weight * kl.sum()


# --------------------------------------------------------------------------------------------
# The random generator
# --------------------------------------------------------------------------------------------


def test_mulberry32_is_seeded_and_uniform():
    a, b = Mulberry32(42), Mulberry32(42)
    draws = [a.uniform() for _ in range(20000)]
    assert draws[:50] == [b.uniform() for _ in range(50)]
    assert Mulberry32(43).uniform() != draws[0]
    assert all(0.0 <= u < 1.0 for u in draws)
    assert sum(draws) / len(draws) == pytest.approx(0.5, abs=0.01)
    # 32 random bits: every value is a multiple of 2**-32
    assert all((u * 2**32).is_integer() for u in draws[:100])


def test_box_muller_gives_standard_normals():
    z = torch.tensor(Mulberry32(3).normals(40000), dtype=torch.float64)
    assert z.mean().item() == pytest.approx(0.0, abs=0.02)
    assert z.std().item() == pytest.approx(1.0, abs=0.02)
    assert (z.abs() > 1.96).double().mean().item() == pytest.approx(0.05, abs=0.005)


# --------------------------------------------------------------------------------------------
# Data and model shapes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["eight", "moons", "ring"])
def test_datasets_have_their_shape(dataset):
    x = sample_data(Mulberry32(0), dataset, 4000)
    assert x.shape == (4000, 2) and x.dtype == torch.float64
    radius = x.norm(dim=1)
    if dataset == "eight":
        angles = torch.arange(8, dtype=torch.float64) * 2 * math.pi / 8
        centres = 2 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)
        nearest = torch.cdist(x, centres).min(dim=1).values  # (4000,)
        assert nearest.max() < 0.6  # within 6 std of a centre
        assert (nearest ** 2).mean().item() == pytest.approx(2 * 0.1**2, rel=0.1)
    elif dataset == "ring":
        assert radius.mean().item() == pytest.approx(2.0, abs=0.01)
        assert radius.std().item() == pytest.approx(0.1, abs=0.01)
    else:
        assert x.mean(0).abs().max() < 0.1  # centred
        assert x[:, 0].abs().max() < 2.8 and x[:, 1].abs().max() < 1.7


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_parameters_and_outputs_have_the_stated_shapes(latent_dim):
    params = init_params(Mulberry32(1), latent_dim, hidden=32)
    expected = {"enc1": (32, 2), "enc2": (32, 32), "enc3": (2 * latent_dim, 32),
                "dec1": (32, latent_dim), "dec2": (32, 32), "dec3": (2, 32)}
    assert list(params) == [f"{n}.{p}" for n in PARAM_NAMES for p in ("W", "b")]
    for name, shape in expected.items():
        assert params[f"{name}.W"].shape == shape and params[f"{name}.b"].shape == shape[:1]
        assert params[f"{name}.b"].abs().max() == 0
    x = torch.zeros(5, 2, dtype=torch.float64)
    mu, logvar = encode(params, x)
    assert mu.shape == logvar.shape == (5, latent_dim)
    assert decode(params, mu).shape == (5, 2)
    pg = Playground(PlaygroundSettings(latent_dim=latent_dim, batch=16))
    xb, eps = pg.next_batch()
    assert xb.shape == (16, 2) and eps.shape == (16, latent_dim)


def test_weights_are_drawn_at_lecun_scale():
    params = init_params(Mulberry32(5), 2, hidden=64)
    w = params["enc2.W"]  # (64, 64): std 1/sqrt(64)
    assert w.std().item() == pytest.approx(1 / 8, rel=0.05)


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------

SETTINGS = [
    PlaygroundSettings(),
    PlaygroundSettings(dataset="moons", latent_dim=1, beta=4.0, sigma=0.7, batch=64),
    PlaygroundSettings(dataset="ring", beta=2.0, warmup=True, free_bits=0.3, batch=50),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "moons-1d", "ring-warmup-freebits"])
def test_loss_and_gradients_match_torch_distributions(settings):
    params = init_params(Mulberry32(settings.seed), settings.latent_dim, settings.hidden)
    x, eps = _batch(settings)
    step = 300
    terms, grads = loss_and_grads(params, x, eps, settings, step)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    expected = _independent_loss(leaves, x, eps, settings, step)
    expected_grads = torch.autograd.grad(expected, list(leaves.values()))
    assert terms["loss"] == pytest.approx(expected.item(), rel=1e-12)
    for name, g in zip(leaves, expected_grads, strict=True):
        torch.testing.assert_close(grads[name], g, rtol=1e-10, atol=1e-12)
    assert terms["rate"] == pytest.approx(sum(terms["kl_per_dim"]), rel=1e-12)


def test_distortion_is_the_gaussian_nll_in_nats_per_point():
    settings = PlaygroundSettings(sigma=0.5, batch=8)
    params = init_params(Mulberry32(0), 2)
    x, eps = _batch(settings)
    with torch.no_grad():
        terms = objective(params, x, eps, settings)
        mu, logvar = encode(params, x)
        x_hat = decode(params, mu + torch.exp(0.5 * logvar) * eps)
    by_hand = (((x - x_hat) ** 2).sum(1) / (2 * 0.25) + 2 * math.log(0.5) + math.log(2 * math.pi)).mean()
    assert terms["distortion"].item() == pytest.approx(by_hand.item(), rel=1e-12)


def test_free_bits_stop_the_pull_below_lambda():
    """With λ above every dim's KL the loss is distortion + β λ D, and its gradient the distortion's."""
    base = PlaygroundSettings(beta=5.0, batch=32)
    high = PlaygroundSettings(beta=5.0, batch=32, free_bits=100.0)
    params = init_params(Mulberry32(2), 2)
    x, eps = _batch(base)
    terms, grads = loss_and_grads(params, x, eps, high)
    assert terms["loss"] == pytest.approx(terms["distortion"] + 5.0 * 100.0 * 2, rel=1e-12)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    only_distortion = torch.autograd.grad(objective(leaves, x, eps, base)["distortion"], list(leaves.values()))
    for name, g in zip(leaves, only_distortion, strict=True):
        torch.testing.assert_close(grads[name], g)


def test_warmup_weight_rises_linearly_to_beta():
    s = PlaygroundSettings(beta=3.0, warmup=True, warmup_steps=1000)
    assert [s.kl_weight(t) for t in (0, 250, 1000, 5000)] == [0.0, 0.75, 3.0, 3.0]
    assert PlaygroundSettings(beta=3.0).kl_weight(0) == 3.0


# --------------------------------------------------------------------------------------------
# Adam and training
# --------------------------------------------------------------------------------------------


def test_adam_step_is_torch_optim_adam():
    torch.manual_seed(0)
    params = {"a": torch.randn(4, 3, dtype=torch.float64), "b": torch.randn(3, dtype=torch.float64)}
    theirs = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    optimizer = torch.optim.Adam(theirs.values(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    state = AdamState({k: torch.zeros_like(v) for k, v in params.items()},
                      {k: torch.zeros_like(v) for k, v in params.items()})
    for t in range(5):
        grads = {k: torch.randn_like(v) * (t + 1) for k, v in params.items()}
        adam_step(params, grads, state, lr=0.01)
        for k, v in theirs.items():
            v.grad = grads[k].clone()
        optimizer.step()
        for k in params:
            torch.testing.assert_close(params[k], theirs[k].detach(), rtol=1e-12, atol=1e-14)


def test_a_run_is_reproducible_from_its_seed():
    settings = PlaygroundSettings(batch=32)
    first = [t["loss"] for t in Playground(settings).run(5)]
    assert first == [t["loss"] for t in Playground(settings).run(5)]
    assert first != [t["loss"] for t in Playground(PlaygroundSettings(batch=32, seed=2)).run(5)]


def test_training_lowers_the_loss():
    pg = Playground(PlaygroundSettings(batch=64, lr=0.01))
    losses = [t["loss"] for t in pg.run(150)]
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20


def test_active_dims_counts_variance_of_the_encoder_mean():
    params = init_params(Mulberry32(1), 2)
    x = sample_data(Mulberry32(9), "eight", 256)
    count, variance = active_dims(params, x)
    with torch.no_grad():
        mu, _ = encode(params, x)
    assert variance == pytest.approx(mu.var(0, unbiased=False).tolist())
    assert count == sum(v > 0.01 for v in variance)
    params["enc3.W"][:2] = 0  # the means no longer depend on x
    assert active_dims(params, x)[0] == 0


# --------------------------------------------------------------------------------------------
# Clear errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes,words", [
    ({"dataset": "spiral"}, "dataset='spiral' is unknown"),
    ({"latent_dim": 3}, "latent_dim must be 1 or 2"),
    ({"latent_dim": True}, "latent_dim must be 1 or 2"),
    ({"sigma": 0.0}, "sigma must be a finite positive number"),
    ({"lr": float("nan")}, "lr must be a finite positive number"),
    ({"beta": -1.0}, "beta must be a finite number >= 0"),
    ({"free_bits": -0.1}, "free_bits must be a finite number >= 0"),
    ({"batch": 0}, "batch must be a positive integer"),
    ({"batch": 2.5}, "batch must be a positive integer"),
    ({"seed": -1}, "seed must be an integer from 0 to 2**32 - 1"),
    ({"seed": 2**32}, "seed must be an integer from 0 to 2**32 - 1"),
])
def test_bad_settings_say_what_is_wrong(changes, words):
    with pytest.raises(ValueError, match=words.replace("*", r"\*").replace("(", r"\(")):
        PlaygroundSettings(**changes)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="dataset='swiss' is unknown"):
        sample_data(Mulberry32(0), "swiss", 3)
    params = init_params(Mulberry32(0), 2)
    settings = PlaygroundSettings()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\), got \(4, 3\)"):
        objective(params, torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64), settings)
    with pytest.raises(ValueError, match=r"eps must have shape \(4, 2\)"):
        objective(params, torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4, 1, dtype=torch.float64), settings)
