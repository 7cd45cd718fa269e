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

from ._validation import integer, number

__all__ = ["constant", "linear_warmup", "cyclical", "cosine_lr"]

Schedule = Callable[[int], float]


def _check_step(step: int) -> int:
    return integer("step", step, at_least=0, advice="It is the 0-based optimizer step.")


def constant(weight: float = 1.0) -> Schedule:
    """The same weight at every step (no annealing).

    Args:
        weight: a finite, non-negative number.
    """
    weight = number("weight", weight, at_least=0)

    def schedule(step: int) -> float:
        _check_step(step)
        return weight

    return schedule


def linear_warmup(steps: int) -> Schedule:
    """Weight ``step / steps``, rising from 0 at step 0 to 1 at step ``steps``, then 1.

    Args:
        steps: length of the ramp in optimizer steps; 0 means no warm-up (always 1).
    """
    steps = integer("steps", steps, at_least=0)

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
    total_steps = integer("total_steps", total_steps, at_least=1)
    cycles = integer("cycles", cycles, at_least=1)
    if cycles > total_steps:
        raise ValueError(f"cycles={cycles} is more than total_steps={total_steps}; a cycle needs a step at least.")
    ratio = number("ratio", ratio, above=0, at_most=1, advice="It is the ramp's share of a cycle.")
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
    total_steps = integer("total_steps", total_steps, at_least=1)
    warmup = integer("warmup", warmup, at_least=0)

    def factor(step: int) -> float:
        step = _check_step(step)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor
