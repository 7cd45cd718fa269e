"""Checks for the exercises of chapter 1 (autoencoders)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from . import Check, Hint, MultipleChoice
from .wire import from_data, to_data, type_name

__all__ = ["check_holes_answer", "check_reconstruction_loss", "check_latent_size_experiment"]


check_holes_answer = MultipleChoice(
    "holes", correct="b",
    hints={
        "a": ("the decoder is not broken: it decodes the codes of real digits well. Ask which "
              "codes it was ever trained on."),
        "c": ("more training makes reconstructions sharper but gives the decoder no reason to "
              "care about codes no image maps to."),
        "d": ("a wider box would only add more empty space: the problem is the space between "
              "and around the clusters."),
    },
    success=("right: nothing in the loss asks the codes to fill any region, so most of the "
             "space is never visited in training and the decoder's output there is arbitrary."),
    doc="Exercise 'holes': which statement explains why random codes decode to garbage?")


def _reference_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def _loss_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1 if seed is None else seed)
    logits = torch.randn(8, 1, 28, 28, generator=gen) * 3
    x = torch.rand(8, 1, 28, 28, generator=gen)
    return logits, x


def _probe_reconstruction_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                               seed: int | None = None) -> dict:
    return {"seed": seed, "got": to_data(fn(*_loss_inputs(seed)))}


def _judge_reconstruction_loss(data: dict) -> str:
    logits, x = _loss_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return a tensor, not {type_name(got)}.")
    if got.dim() != 0:
        raise Hint(f"return one number (a 0-d tensor) for the batch, not shape {tuple(got.shape)}: "
                   "sum over the pixels, then average over the batch.")
    want = _reference_loss(logits, x)
    value = float(got)
    if torch.isclose(got.to(want.dtype), want, rtol=1e-4):
        return f"{value:.2f} nats per image, as expected."
    bce_pixels = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    if abs(value + float(want)) < 1e-3 * abs(float(want)):
        raise Hint("the sign is flipped: a loss is the *negative* log-likelihood, so it is positive.")
    if abs(value - float(bce_pixels.mean())) < 1e-4:
        raise Hint("you averaged over the pixels too (reduction='mean'): sum over the 784 pixels "
                   "and average only over the batch, so the loss is in nats per image.")
    if abs(value - float(bce_pixels.sum())) < 1e-2:
        raise Hint("you summed over the batch too: divide by the batch size (average over images).")
    probs = torch.sigmoid(logits)
    if abs(value - float(F.binary_cross_entropy_with_logits(probs, x, reduction="none")
                         .flatten(1).sum(1).mean())) < 1e-3:
        raise Hint("you applied the sigmoid twice: the decoder returns logits, and "
                   "binary_cross_entropy_with_logits applies the sigmoid itself.")
    raise Hint(f"got {value:.4f}, expected {float(want):.4f}. Use "
               "F.binary_cross_entropy_with_logits(logits, x, reduction='none'), sum over "
               "the pixel dimensions, then take the mean over the batch.")


check_reconstruction_loss = Check(
    "reconstruction_loss", probe=_probe_reconstruction_loss, judge=_judge_reconstruction_loss, seeded=True,
    doc="Exercise 'reconstruction loss': BCE from logits, summed over pixels, averaged over the batch.")


def _probe_latent_size(errors: Mapping[int, float]) -> dict:
    return {"errors": to_data(errors)}


def _judge_latent_size(data: dict) -> str:
    errors = from_data(data["errors"])
    if not isinstance(errors, Mapping) or set(errors) != {2, 8}:
        raise Hint("fill a dict with exactly the keys 2 and 8, e.g. {2: 150.3, 8: 95.1}.")
    e2, e8 = float(errors[2]), float(errors[8])
    if not (0 < e8 < 400 and 0 < e2 < 400):
        raise Hint("the numbers should be test losses in nats per image (tens to a few hundred); "
                   "did you average over pixels, or report a sum over the test set?")
    if e8 >= e2:
        raise Hint(f"a larger code should reconstruct better, but you found {e8:.1f} (8) >= "
                   f"{e2:.1f} (2). Use the same number of steps for both and evaluate on the test set.")
    return (f"8 latents give {e8:.1f} against {e2:.1f} nats per image for 2: "
            f"{100 * (e2 - e8) / e2:.0f}% lower.")


check_latent_size_experiment = Check(
    "latent_size", probe=_probe_latent_size, judge=_judge_latent_size,
    doc="Exercise 'latent size': test reconstruction loss for latent sizes 2 and 8.")
