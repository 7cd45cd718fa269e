"""Probes of the private example exercise: run in the sandbox, beside the learner's code.

A probe calls the learner's function on inputs it draws from ``seed`` and returns plain data;
it decides nothing. The judges (``judges.py``) never enter the sandbox.
"""

from __future__ import annotations

import torch

from vaelib.checks.wire import to_data


def entropy_inputs(seed: int | None) -> torch.Tensor:
    """log-variances of shape (4, 3); the judge rebuilds the same from the same seed."""
    generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    return torch.randn(4, 3, generator=generator, dtype=torch.float64)


def probe_gaussian_entropy(fn, seed=None) -> dict:
    return {"seed": seed, "got": to_data(fn(entropy_inputs(seed)))}
