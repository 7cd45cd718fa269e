"""Checks for the exercises of chapter 7 (the conditional VAE)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from . import Check, Hint, MultipleChoice
from .wire import from_data, to_data, type_name

__all__ = ["check_latent_size_answer", "check_condition_inputs", "check_label_swap_experiment"]


check_latent_size_answer = MultipleChoice(
    "cvae_latent_size", correct="b",
    hints={
        "a": ("the bigger models reconstruct *better* (their ELBO is higher), so a worse "
              "decoder is not the reason. Ask what the extra latent dimensions are used for."),
        "c": ("the classifier is the same for every latent size and scores real test digits "
              "well; it cannot explain a difference between the models."),
        "d": ("every model is trained with the same β = 1 KL term. Ask what information a 20-D "
              "code has room for that a 2-D code does not."),
    },
    success=("right: a large code can also store which digit it is; a prior draw then carries "
             "its own, random digit identity, which can overrule the label."),
    doc="Exercise 'why does the classifier's accuracy drop as the latent grows?'.")


def _condition_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    x = torch.rand(6, 1, 4, 4, generator=gen)
    y = torch.tensor([0, 3, 9, 3, 1, 7])
    return x, y


def _probe_condition_inputs(fn: Callable, seed: int | None = None) -> dict:
    x, y = _condition_inputs(seed)
    return {"seed": seed, "got": to_data(fn(x, y, 10))}


def _judge_condition_inputs(data: dict) -> str:
    x, y = _condition_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return a tensor, got {type_name(got)}.")
    want = torch.cat([x.flatten(1), F.one_hot(y, 10).float()], dim=1)
    if tuple(got.shape) == (6, 17):
        raise Hint("your rows have 17 columns: you appended the label as one number. Append "
                   "its one-hot vector (10 columns) instead: F.one_hot(y, num_classes).float().")
    if tuple(got.shape) == (6, 1, 4, 4) or got.dim() != 2:
        raise Hint(f"return one row per example, shape (B, pixels + num_classes) = (6, 26); got "
                   f"{tuple(got.shape)}. Flatten x with x.flatten(1) first.")
    if tuple(got.shape) != (6, 26):
        raise Hint(f"expected shape (6, 26) = 16 pixels + 10 one-hot columns, got {tuple(got.shape)}.")
    if torch.allclose(got.float(), torch.cat([F.one_hot(y, 10).float(), x.flatten(1)], dim=1)):
        raise Hint("the values are right but in the other order: the course puts the pixels "
                   "first and the one-hot label last (torch.cat([pixels, one_hot], dim=1)).")
    if not torch.allclose(got.float(), want):
        raise Hint("the shape is right but not the values: the first 16 columns should be the "
                   "pixels as they are, the last 10 a single 1 at the label's index.")
    return "pixels first, then the one-hot label: the input of the CVAE's encoder."


check_condition_inputs = Check(
    "condition_inputs", probe=_probe_condition_inputs, judge=_judge_condition_inputs, seeded=True,
    doc="Exercise 'feed the label': flatten the inputs and append the one-hot label.")


def _probe_label_swap(swap_accuracy: Mapping[int, float]) -> dict:
    return {"swap_accuracy": to_data(swap_accuracy)}


def _judge_label_swap(data: dict) -> str:
    swap_accuracy = from_data(data["swap_accuracy"])
    if not isinstance(swap_accuracy, Mapping) or set(swap_accuracy) != {2, 20}:
        raise Hint("fill a dict with exactly the keys 2 and 20 (the latent sizes).")
    a = {k: float(v) for k, v in swap_accuracy.items()}
    if any(not 0.0 <= v <= 1.0 for v in a.values()):
        raise Hint(f"accuracies are fractions in [0, 1], got {a}; divide counts by the number "
                   "of images.")
    if a[2] < 0.5:
        raise Hint(f"with a 2-D code the label should win most of the time, but you have "
                   f"{a[2]:.2f}. Compare the classifier's prediction with the *new* label, and "
                   "decode the posterior mean of (x, old label) with the new one.")
    if a[20] >= a[2]:
        raise Hint(f"you found the 20-D model as obedient as the 2-D one ({a[20]:.2f} vs "
                   f"{a[2]:.2f}); check that each model was used with its own codes.")
    return (f"the new label wins {100 * a[2]:.0f}% of the time with a 2-D code and "
            f"{100 * a[20]:.0f}% with a 20-D code, which also remembers the old digit.")


check_label_swap_experiment = Check(
    "label_swap", probe=_probe_label_swap, judge=_judge_label_swap,
    doc="Exercise 'does the label win?': label-swap accuracy for latent sizes 2 and 20.")
