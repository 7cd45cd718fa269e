"""KL weight schedules, and how the weight and free bits enter the ELBO."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.losses import elbo, kl_standard_normal_per_dim
from vaelib.models import VAE
from vaelib.schedules import constant, cyclical, linear_warmup


def test_constant():
    schedule = constant(0.25)
    assert [schedule(t) for t in (0, 1, 10**6)] == [0.25] * 3
    assert constant()(5) == 1.0


def test_linear_warmup_ramps_then_holds():
    schedule = linear_warmup(4)
    assert [schedule(t) for t in range(7)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert linear_warmup(0)(0) == 1.0  # no warm-up


def test_cyclical_follows_fu_et_al():
    # 16 steps, 4 cycles of 4 steps, ramp over the first half of each: 0, 0.5, then 1, 1.
    schedule = cyclical(16, cycles=4, ratio=0.5)
    assert [schedule(t) for t in range(16)] == [0.0, 0.5, 1.0, 1.0] * 4
    assert schedule(16) == schedule(100) == 1.0  # after the schedule: full weight
    # ratio 1: a sawtooth; one cycle: a plain linear warm-up over total_steps.
    assert [cyclical(8, cycles=2, ratio=1.0)(t) for t in range(8)] == [0, 0.25, 0.5, 0.75] * 2
    one = cyclical(10, cycles=1, ratio=1.0)
    assert all(one(t) == pytest.approx(linear_warmup(10)(t)) for t in range(12))


def test_cyclical_with_a_fractional_period_stays_in_range():
    schedule = cyclical(10, cycles=3, ratio=0.4)  # cycles of 10/3 steps
    weights = [schedule(t) for t in range(10)]
    assert all(0.0 <= w <= 1.0 for w in weights)
    assert weights[0] == weights[4] == weights[8] == 0.0  # a new cycle every ceil(10/3) = 4 steps
    assert weights[1] == pytest.approx(1 / (10 / 3) / 0.4)


@pytest.mark.parametrize("make, match", [
    (lambda: constant(-1.0), "non-negative"),
    (lambda: constant(math.inf), "finite"),
    (lambda: linear_warmup(-1), "steps"),
    (lambda: linear_warmup(2.5), "steps"),
    (lambda: cyclical(0), "total_steps"),
    (lambda: cyclical(10, cycles=0), "cycles"),
    (lambda: cyclical(3, cycles=4), "more than total_steps"),
    (lambda: cyclical(10, ratio=0.0), "ratio"),
    (lambda: cyclical(10, ratio=1.5), "ratio"),
])
def test_bad_arguments_are_explained(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("schedule", [constant(), linear_warmup(3), cyclical(8)])
def test_steps_must_be_non_negative_integers(schedule):
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="step"):
            schedule(bad)


def _tiny_vae():
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=(8,), image_shape=(1, 4, 4))


def test_kl_weight_from_a_schedule_scales_the_kl_term():
    model, x = _tiny_vae(), torch.rand(5, 1, 4, 4).round()
    schedule = linear_warmup(4)
    for step in (0, 2, 4):
        torch.manual_seed(1)
        terms = elbo(model, x, beta=2.0, kl_weight=schedule(step))
        want = -(terms.reconstruction - 2.0 * schedule(step) * terms.kl)
        assert torch.allclose(terms.loss, want)
        assert torch.allclose(terms.elbo, terms.reconstruction - terms.kl)  # the bound ignores it


def test_free_bits_floor_each_dimension_of_the_batch_averaged_kl():
    model, x = _tiny_vae(), torch.rand(5, 1, 4, 4).round()
    lam = 0.25
    torch.manual_seed(1)
    terms = elbo(model, x, free_bits=lam)
    mu, logvar = model.encode(x)
    per_dim = kl_standard_normal_per_dim(mu, logvar).mean(dim=0)  # (D,) nats
    want = -(terms.reconstruction - torch.clamp(per_dim, min=lam).sum())
    assert torch.allclose(terms.loss, want, atol=1e-6)
    # With a floor above every dimension's KL, the KL no longer moves the loss at all.
    torch.manual_seed(1)
    high = elbo(model, x, free_bits=100.0)
    assert torch.allclose(high.loss, -(high.reconstruction - 100.0 * 3))


def test_cosine_lr_warms_up_then_decays_to_zero():
    from vaelib.schedules import cosine_lr

    schedule = cosine_lr(100, warmup=10)
    assert [schedule(t) for t in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert schedule(10) == pytest.approx(1.0) and schedule(55) == pytest.approx(0.5)
    assert schedule(100) == pytest.approx(0.0, abs=1e-12) and schedule(500) == pytest.approx(0.0, abs=1e-12)
    values = [schedule(t) for t in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # never rises after warm-up
    assert cosine_lr(10)(0) == 1.0
