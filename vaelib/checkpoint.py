"""Save a trained model with the arguments that built it; load it back, safely.

A checkpoint is a plain dict ``{"format", "model", "config", "state_dict", "extra"}`` serialised
with ``torch.save``, behind a two-line header: the format name and the SHA-256 of the bytes that
follow, so a damaged file (one flipped byte is enough) is refused instead of yielding changed
weights; PyTorch's own zip container checks no checksums. Loading uses ``weights_only=True``: a
checkpoint cannot run code on your machine. A save writes a temporary file in the same folder and
renames it over the target, so an interrupted save never leaves a half-written checkpoint; the
temporary files of saves that were killed outright are removed by the next save of that file.
"""

from __future__ import annotations

import hashlib
import io
import numbers
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import models
from ._files import OWNER_PATTERN, abandoned, owner_tag
from .runtime import get_device

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]

FORMAT = "vaelib-checkpoint-2"
_HEADER = re.compile(rb"\Avaelib-checkpoint-2\nsha256:([0-9a-f]{64})\n")
_KEYS = ("format", "model", "config", "state_dict", "extra")


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
        extra: small plain data to keep alongside, e.g. test scores: ``None``, booleans, numbers,
            strings, tensors, and lists, tuples, sets and dicts of these (dict keys: strings,
            numbers or ``None``). NumPy scalars are stored as the Python numbers they equal.

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is not a vaelib model, or ``extra`` holds a value that could not be
            loaded back (a NumPy array, a ``Path``, any other object); the message names it and
            says what to store instead. Nothing is written then.
        FileNotFoundError: the folder does not exist.
    """
    name = type(model).__name__
    if name not in _model_classes() or not hasattr(model, "config"):
        raise TypeError(f"save_checkpoint saves vaelib models ({', '.join(_model_classes())}), "
                        f"not {name}; for other modules use torch.save(model.state_dict(), path).")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict of plain data, got {type(extra).__name__}.")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The folder {path.parent} does not exist; create it first.")
    payload = {
        "format": FORMAT,
        "model": name,
        "config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": _plain(dict(extra or {}), "extra"),
    }
    data = _pack(payload)  # all of it in memory first: a failure here leaves no file at all
    _remove_abandoned_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device | None = "cpu",
                    return_extra: bool = False):
    """Rebuild a model saved by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        device: where to put the model: ``"cpu"`` (the default; also ``None``), ``"cuda"``,
            ``"cuda:N"``, ``"mps"``, or ``"auto"`` for the best one here (see
            :func:`vaelib.runtime.get_device`).
        return_extra: also return the ``extra`` dict.

    Returns:
        The model in eval mode (and the extra dict when asked).

    Raises:
        ValueError: ``device`` is not a device name, or not available here (checked first).
        CheckpointError: the file is missing, empty, damaged or truncated, not a vaelib checkpoint,
            or its weights do not fit the configuration it names.
    """
    target = get_device("cpu" if device is None else device)
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}: check the path, or train and save first.")
    payload = _unpack(path.read_bytes(), path)
    classes = _model_classes()
    try:
        model = classes[payload["model"]](**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"The weights in {path} do not fit a {payload['model']} built with {payload['config']}: "
            f"{str(err).splitlines()[0]}"
        ) from err
    model.to(target).eval()
    return (model, payload["extra"]) if return_extra else model


# ------------------------------------------------------------------------------ the file format
def _pack(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    return f"{FORMAT}\nsha256:{hashlib.sha256(body).hexdigest()}\n".encode() + body


def _unpack(data: bytes, path: Path) -> dict:
    """The payload of a checkpoint file's bytes: checksum first, then a code-free load, then its keys."""
    if not data:
        raise CheckpointError(f"{path} is empty (0 bytes): a save or a copy that never finished. "
                              "Save the model again with save_checkpoint.")
    header = _HEADER.match(data)
    if header is None:
        what = ("its header is damaged, or it was written by another vaelib version"
                if data.startswith(b"vaelib-checkpoint") else "it was not written by vaelib.save_checkpoint")
        raise CheckpointError(f"{path} is not a readable checkpoint: {what} (this vaelib reads "
                              f"{FORMAT!r}). Save the model again with save_checkpoint.")
    body = data[header.end():]
    if hashlib.sha256(body).hexdigest() != header.group(1).decode():
        raise CheckpointError(
            f"{path} is not a readable checkpoint: it is damaged or truncated (its contents no "
            "longer match the SHA-256 recorded when it was saved). Save the model again, or "
            "use an intact copy of the file.")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
            ValueError, TypeError, KeyError, IndexError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]}); "
            "save the model again with save_checkpoint.") from err
    _check_payload(payload, path)
    return payload


def _check_payload(payload, path: Path) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by vaelib.save_checkpoint "
                              f"(expected format {FORMAT!r}).")
    missing = [k for k in _KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(map(repr, missing))}: it was not written by "
                              "vaelib.save_checkpoint, or was edited; save the model again.")
    for key, kind in (("model", str), ("config", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(payload[key], kind):
            raise CheckpointError(f"In {path}, {key!r} should be a {kind.__name__}, not a "
                                  f"{type(payload[key]).__name__}; save the model again.")
    if payload["model"] not in _model_classes():
        raise CheckpointError(f"{path} holds a {payload['model']!r}, which this vaelib does not know.")


# ------------------------------------------------------------------------- what extra may hold
_SCALARS = (type(None), bool, int, float, str)


def _plain(value, where: str):
    """``value`` with NumPy scalars made Python numbers; a TypeError for what could not load."""
    if isinstance(value, np.generic) and isinstance(value, (np.bool_, numbers.Number)):
        return value.item()  # first: np.float64 is also a float, yet unpickles as a NumPy object
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple, set)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return type(value)(items)
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, _SCALARS) and not isinstance(key, np.generic):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; save_checkpoint "
                                "keeps dict keys that are strings, numbers or None.")
            key = _plain(key, where)
            out[key] = _plain(v, f"{where}[{key!r}]")
        return out
    hint = {np.ndarray: "store array.tolist() or torch.from_numpy(array)",
            os.PathLike: "store str(path)"}
    advice = next((h for kind, h in hint.items() if isinstance(value, kind)),
                  "store numbers, strings, lists or dicts of them instead")
    raise TypeError(f"{where} is a {type(value).__name__}, which a checkpoint cannot hold safely "
                    f"(loading it back would be refused); {advice}.")


# ------------------------------------------------------------------- temporary files, durability
def _remove_abandoned_temporaries(path: Path) -> None:
    """Delete temporary files of earlier saves of ``path`` whose process was killed.

    A temporary file of a process that is still running is another save in progress: kept.
    """
    pattern = re.compile(rf"\A\.{re.escape(path.name)}\.{OWNER_PATTERN}\.[^.]+\.tmp\Z")
    for candidate in path.parent.glob(f".{path.name}.*.tmp"):
        found = pattern.match(candidate.name)
        if found is not None and abandoned(found["host"], int(found["pid"]), candidate):
            candidate.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a folder for this."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync a folder; the data itself is already on disk
    finally:
        os.close(fd)
