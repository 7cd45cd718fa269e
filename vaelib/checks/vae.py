"""Checks for the exercises of chapter 4 (the variational autoencoder)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from . import Check, Hint, MultipleChoice, hint_for_known_mistake
from .wire import from_data, to_data, type_name

__all__ = ["check_bound_order_answer", "check_negative_elbo", "check_importance_sampling_experiment"]


check_bound_order_answer = MultipleChoice(
    "bound_order", correct="c",
    hints={
        "a": ("the ELBO is the loosest of the three: it is the K = 1 case of the "
              "importance-sampled bound, and the bound can only tighten as K grows."),
        "b": ("K = 10 is tighter than the ELBO, but K = 1000 averages more samples inside the "
              "logarithm and is tighter still (on average)."),
        "d": ("all three are lower bounds on log p(x) in expectation, so none of them can be "
              "above it on average; they are not equally close either."),
    },
    success=("right: every estimate is a lower bound in expectation, and the bound tightens as "
             "K grows; K = 1000 is the closest of the three."),
    doc="Exercise 'which number is closest to log p(x)?'.")


def _reference(logits, x, mu, logvar):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return -(rec - kl).mean(), rec, kl


def _elbo_inputs(seed: int | None = None) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3 if seed is None else seed)
    logits = torch.randn(16, 1, 28, 28, generator=gen) * 2
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.3), generator=gen)
    mu = torch.randn(16, 5, generator=gen)
    logvar = torch.randn(16, 5, generator=gen) * 0.5
    return logits, x, mu, logvar


def _probe_negative_elbo(fn: Callable, seed: int | None = None) -> dict:
    return {"seed": seed, "got": to_data(fn(*_elbo_inputs(seed)))}


def _judge_negative_elbo(data: dict) -> str:
    logits, x, mu, logvar = _elbo_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
        raise Hint(f"return one number for the batch (a 0-d tensor), got {shape}: "
                   "average the per-example values over the batch.")
    want, rec, kl = _reference(logits, x, mu, logvar)
    value = float(got)
    if abs(value - float(want)) < 1e-3 * abs(float(want)):
        return f"{value:.2f} nats per image, the negative ELBO."
    candidates = {
        "the KL term has the wrong sign: the loss is -(reconstruction - KL) = -reconstruction + KL.":
            -(rec + kl).mean(),
        "the KL is missing its factor 1/2: KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar).":
            -(rec - 2 * kl).mean(),
        "you averaged the reconstruction term over pixels: sum it over the 784 pixels.":
            -(rec / 784 - kl).mean(),
        "you averaged the KL over the latent dimensions: sum it over them.":
            -(rec - kl / 5).mean(),
        "you returned the ELBO, not the loss: the optimizer minimises -ELBO.":
            (rec - kl).mean(),
        "the KL uses logvar as the variance itself: the variance is exp(logvar).":
            -(rec - 0.5 * (mu.pow(2) + logvar - 1 - torch.log(logvar.abs() + 1e-12)).sum(1)).mean(),
    }
    hint_for_known_mistake(value, candidates, rel_tol=1e-3)
    raise Hint(f"got {value:.3f}, expected {float(want):.3f}. Compute the Bernoulli term with "
               "binary_cross_entropy_with_logits (summed over pixels), the closed-form KL "
               "(summed over latent dimensions), subtract, negate, average over the batch.")


check_negative_elbo = Check(
    "negative_elbo", probe=_probe_negative_elbo, judge=_judge_negative_elbo, seeded=True,
    doc="Exercise 'the VAE loss': -ELBO, summed over pixels and latents, averaged over the batch.")


def _probe_importance_sampling(estimates: Mapping[int, float], negative_elbo: float) -> dict:
    return {"estimates": to_data(estimates), "negative_elbo": float(negative_elbo)}


def _judge_importance_sampling(data: dict) -> str:
    estimates, negative_elbo = from_data(data["estimates"]), float(data["negative_elbo"])
    if not isinstance(estimates, Mapping) or set(estimates) != {1, 10, 100}:
        raise Hint("fill a dict with exactly the keys 1, 10 and 100.")
    e = {k: float(v) for k, v in estimates.items()}
    if any(v < 0 for v in e.values()):
        raise Hint("report negative log-likelihoods (positive numbers of nats): negate the mean "
                   "of importance_log_likelihood.")
    if not (e[1] >= e[10] >= e[100]):
        raise Hint(f"the estimates should fall as K grows (a tighter bound), but you have {e}. "
                   "Use the same images and the same trained model for every K.")
    if not abs(e[1] - negative_elbo) <= 3.0:
        raise Hint(f"with K = 1 the estimate is the ELBO, so it should be close to the negative "
                   f"ELBO {negative_elbo:.1f}, not {e[1]:.1f}: same images?")
    return (f"K = 1: {e[1]:.1f}, K = 10: {e[10]:.1f}, K = 100: {e[100]:.1f} nats; "
            f"{e[1] - e[100]:.1f} nats of the ELBO's gap closed by 100 samples.")


check_importance_sampling_experiment = Check(
    "importance_sampling", probe=_probe_importance_sampling, judge=_judge_importance_sampling,
    doc="Exercise 'K samples': test NLL estimates for K = 1, 10, 100 against the negative ELBO.")
