"""Turning grey levels into binary images, the data a Bernoulli likelihood is a likelihood for."""

from __future__ import annotations

import torch

__all__ = ["binarize", "fixed_binarization"]


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel is 1 with probability equal to its grey level.

    Called on every minibatch, so the model sees a fresh binary draw of each digit at every epoch
    (a regulariser, and the protocol behind the published binarized-MNIST likelihoods).

    Args:
        x: grey levels in [0, 1], any shape.
        generator: a random generator on ``x``'s device, for a repeatable draw.

    Returns:
        A float tensor of 0s and 1s with the shape of ``x``.
    """
    if not x.is_floating_point():
        raise ValueError(
            f"binarize needs float grey levels in [0, 1], got {x.dtype} images; convert 0-255 "
            "images with x.float() / 255 first."
        )
    if x.device.type != "cpu" and x.numel():
        # On a GPU an out-of-range probability is a device-side assert that poisons the whole
        # CUDA context, so check first (one reduction).
        lo, hi = torch.aminmax(x)
        if not (lo >= 0 and hi <= 1):
            raise ValueError("binarize needs grey levels in [0, 1]; divide 0-255 images by 255 first.")
    try:
        # On the CPU torch.bernoulli validates the probabilities itself: no extra pass over x.
        return torch.bernoulli(x, generator=generator)
    except RuntimeError as err:
        if "0 <= p" in str(err) or "p_in" in str(err):
            raise ValueError(
                "binarize needs grey levels in [0, 1]; divide 0-255 images by 255 first."
            ) from err
        raise


def fixed_binarization(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One binarization, the same on every call and every machine: for a fixed test set."""
    generator = torch.Generator().manual_seed(seed)
    return binarize(x.detach().cpu(), generator=generator).to(x.device)
