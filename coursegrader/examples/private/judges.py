"""Judges of the private example exercise: run only in the grader's process.

A judge gets the probe's data, recomputes the reference from the same seed, and returns what
was verified or raises ``Hint`` with what to fix. Known mistakes get their own hint.
"""

from __future__ import annotations

import math

import torch
from probes import entropy_inputs  # the folder is on the grader's path while it loads this file

from vaelib.checks import Hint
from vaelib.checks.wire import from_data


def judge_gaussian_entropy(data: dict) -> str:
    logvar = entropy_inputs(data["seed"])
    expected = torch.distributions.Normal(0.0, (0.5 * logvar).exp()).entropy().sum(-1)
    got = torch.as_tensor(from_data(data["got"]), dtype=torch.float64)
    if got.shape != expected.shape:
        raise Hint(f"expected one entropy per row, shape {tuple(expected.shape)}; got shape "
                   f"{tuple(got.shape)}. Sum over the latent dimensions, not over the batch.")
    if torch.allclose(got, expected, atol=1e-6):
        return f"H[q] = {expected[0].item():.4f} nats for the first row, as expected."
    doubled = (math.log(2 * math.pi * math.e) + logvar).sum(-1)
    if torch.allclose(got, doubled, atol=1e-6):
        raise Hint("twice the entropy: each dimension contributes 1/2 (log 2πe + log σ²), "
                   "the half is missing.")
    if torch.allclose(got, 0.5 * (math.log(2 * math.pi * math.e) + logvar.exp()).sum(-1), atol=1e-6):
        raise Hint("the variance is used where its logarithm belongs: the input is log σ².")
    raise Hint(f"expected {expected[0].item():.4f} nats for the first row, got {got[0].item():.4f}. "
               "The entropy of N(μ, σ²) is 1/2 log(2πe σ²) per dimension.")
