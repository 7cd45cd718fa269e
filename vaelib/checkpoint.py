"""Save a trained model with the arguments that built it; load it back, safely.

A checkpoint is a plain dict ``{"format", "model", "config", "state_dict", "extra"}`` written with
``torch.save``. Writing goes to a temporary file in the same folder that is then renamed over the
target, so an interrupted save never leaves a half-written checkpoint behind. Loading uses
``weights_only=True``: a checkpoint cannot run code on your machine.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch

from . import models

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]

FORMAT = "vaelib-checkpoint-1"


class CheckpointError(ValueError):
    """The file is not a readable vaelib checkpoint."""


def _model_classes() -> dict[str, type[torch.nn.Module]]:
    return {name: getattr(models, name) for name in models.__all__
            if isinstance(getattr(models, name), type)}


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike, *,
                    extra: dict | None = None) -> Path:
    """Write ``model``'s weights and configuration to ``path`` atomically.

    Args:
        model: a ``vaelib.models`` model (it must have a ``config`` dict).
        path: the file to write; its folder must exist.
        extra: small plain data to keep alongside (numbers, strings, lists), e.g. test scores.

    Returns:
        The path written.
    """
    name = type(model).__name__
    if name not in _model_classes() or not hasattr(model, "config"):
        raise TypeError(f"save_checkpoint saves vaelib models ({', '.join(_model_classes())}), "
                        f"not {name}; for other modules use torch.save(model.state_dict(), path).")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The folder {path.parent} does not exist; create it first.")
    payload = {
        "format": FORMAT,
        "model": name,
        "config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device = "cpu",
                    return_extra: bool = False):
    """Rebuild a model saved by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        device: where to put the model.
        return_extra: also return the ``extra`` dict.

    Returns:
        The model in eval mode (and the extra dict when asked).

    Raises:
        CheckpointError: the file is missing, truncated, not a vaelib checkpoint, or its weights do
            not fit the configuration it names.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}: check the path, or train and save first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]}). "
            "It may be truncated or from another program; save it again with save_checkpoint."
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by vaelib.save_checkpoint "
                              f"(expected format {FORMAT!r}).")
    classes = _model_classes()
    if payload["model"] not in classes:
        raise CheckpointError(f"{path} holds a {payload['model']!r}, which this vaelib does not know.")
    try:
        model = classes[payload["model"]](**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"The weights in {path} do not fit a {payload['model']} built with {payload['config']}: "
            f"{str(err).splitlines()[0]}"
        ) from err
    model.to(device).eval()
    return (model, payload["extra"]) if return_extra else model
