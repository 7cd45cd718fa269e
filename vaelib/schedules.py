"""Schedules over optimizer steps: the KL weight (how much of the KL term the loss carries) and
the learning rate.

Posterior collapse starts early: while the decoder is still poor, the cheapest way to lower the
loss is to make q(z|x) equal the prior, and once the latents carry nothing the decoder learns to
ignore them. Warming the KL weight up from 0 lets the code become useful first.

Each function returns a callable ``weight(step) -> float`` of the 0-based step, the convention of
:func:`vaelib.train.fit`, which passes ``step`` to a loss function that asks for it::

    warmup = linear_warmup(2000)
    fit(model, lambda m, x, step: elbo(m, x, kl_weight=warmup(step)), x_train, steps=5000)

The weight multiplies β inside :func:`vaelib.losses.elbo`; free bits, the other remedy, are its
``free_bits`` argument. :func:`cosine_lr` is a learning-rate multiplier, :func:`vaelib.fit`'s
``lr_schedule``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["constant", "linear_warmup", "cyclical", "cosine_lr"]

Schedule = Callable[[int], float]


def _check_step(step: int) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be a non-negative integer (0-based optimizer step), got {step!r}.")
    return int(step)


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")
    return int(value)


def constant(weight: float = 1.0) -> Schedule:
    """The same weight at every step (no annealing).

    Args:
        weight: a finite, non-negative number.
    """
    weight = float(weight)
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"weight must be a finite non-negative number, got {weight!r}.")

    def schedule(step: int) -> float:
        _check_step(step)
        return weight

    return schedule


def linear_warmup(steps: int) -> Schedule:
    """Weight ``step / steps``, rising from 0 at step 0 to 1 at step ``steps``, then 1.

    Args:
        steps: length of the ramp in optimizer steps; 0 means no warm-up (always 1).
    """
    steps = _check_count(steps, "steps", 0)

    def schedule(step: int) -> float:
        step = _check_step(step)
        return 1.0 if step >= steps else step / steps

    return schedule


def cyclical(total_steps: int, *, cycles: int = 4, ratio: float = 0.5) -> Schedule:
    """The cyclical schedule of Fu et al. (2019, "Cyclical Annealing Schedule", NAACL).

    The ``total_steps`` are cut into ``cycles`` cycles of equal length; within each, the weight
    ramps linearly from 0 to 1 over the first ``ratio`` of the cycle, then stays at 1. Each new
    cycle drops the weight back to 0, which lets the model re-open latents the KL had closed.
    After ``total_steps`` the weight stays at 1. (Fu et al. used 4 cycles and a ratio of 0.5.)

    Args:
        total_steps: the steps the schedule covers.
        cycles: number of cycles, between 1 and ``total_steps``.
        ratio: the fraction of each cycle spent ramping, in (0, 1].
    """
    total_steps = _check_count(total_steps, "total_steps", 1)
    cycles = _check_count(cycles, "cycles", 1)
    if cycles > total_steps:
        raise ValueError(f"cycles={cycles} is more than total_steps={total_steps}; a cycle needs a step at least.")
    ratio = float(ratio)
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1] (the ramp's share of a cycle), got {ratio!r}.")
    period = total_steps / cycles  # may be fractional, as in the paper

    def schedule(step: int) -> float:
        step = _check_step(step)
        if step >= total_steps:
            return 1.0
        tau = (step % math.ceil(period)) / period  # position within the cycle, in [0, 1)
        return min(1.0, tau / ratio)

    return schedule


def cosine_lr(total_steps: int, warmup: int = 0) -> Schedule:
    """A learning-rate multiplier: linear warm-up over ``warmup`` steps, then a cosine to zero.

    The multiplier rises as ``(step + 1) / warmup`` to 1, then falls along half a cosine to 0 at
    ``total_steps`` and stays there (Loshchilov & Hutter 2017, without restarts).

    Args:
        total_steps: the steps the schedule covers (warm-up included).
        warmup: warm-up steps; 0 starts at the full rate.
    """

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor
