"""Where the computation runs, and how it is made repeatable.

Every chapter calls :func:`get_device` once and passes the result on, so the same notebook runs on
a laptop CPU, an NVIDIA GPU or Apple silicon without a single edit.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._validation import integer

__all__ = ["env_flag", "get_device", "seed_everything"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable explicitly (``"0"`` and ``"false"`` are false).

    Args:
        name: the variable's name, e.g. ``"VAELIB_OFFLINE"``.
        default: the value when the variable is not set.

    Raises:
        ValueError: the variable holds something other than a yes/no word.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{name}={raw!r} is not a yes/no value; use one of 1/0, true/false, yes/no, on/off."
    )


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Choose the device to compute on.

    The order of precedence is: the ``device`` argument, then the ``VAELIB_DEVICE`` environment
    variable, then the first available of CUDA, Apple's MPS and the CPU. Nothing is printed.

    Args:
        device: an explicit choice such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ValueError: the requested device is not a device name, or is not available here.
    """
    requested = device if device is not None else os.environ.get("VAELIB_DEVICE", "").strip()
    if requested in ("", None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    origin = "device" if device is not None else "VAELIB_DEVICE"
    try:
        chosen = torch.device(requested)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"{origin}={requested!r} is not a device; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'."
        ) from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{origin} asks for {requested!r} but PyTorch sees no CUDA GPU here; "
            "unset it or use 'cpu'."
        )
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(
            f"{origin} asks for {requested!r} but only {torch.cuda.device_count()} CUDA device(s) exist."
        )
    if chosen.type == "mps" and not _mps_available():
        raise ValueError(f"{origin} asks for 'mps' but MPS is not available here; use 'cpu'.")
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{origin}={requested!r}: vaelib supports 'cpu', 'cuda' and 'mps' only.")
    return chosen


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) so CPU runs repeat exactly.

    Args:
        seed: a non-negative integer.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for code that wants its own stream.
    """
    seed = integer("seed", seed, at_least=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
