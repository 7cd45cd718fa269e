"""Answers as plain data: what a probe hands to a judge, across a process boundary.

A probe runs where the learner's code runs and may be tampered with; a judge runs in the trusted
grader. Between them travels only JSON: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities
included, as Python's ``json`` writes them), ``str``, lists and string-keyed dicts. Python
objects the checks care about are tagged dicts:

- a tensor: ``{"tensor": values, "dtype": "float32", "shape": [..]}`` (values from ``tolist()``),
- a NumPy array: ``{"array": values, "dtype": "float64", "shape": [..]}``,
- a mapping: ``{"mapping": [[key, value], ...], "type": "dict"}``,
- a list or tuple: ``{"sequence": [...], "type": "tuple"}``,
- anything else: ``{"type": "name", "float": 1.5}`` (``float`` only where ``float(x)`` works).

:func:`to_data` builds them (in the probe), :func:`from_data` rebuilds tensors, arrays, dicts and
tuples (in the judge), and :func:`validate` checks a document's size, depth and types before any
judge sees it. None of them ever unpickles or evaluates anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["to_data", "from_data", "Opaque", "validate", "DataError", "type_name", "MAX_DEPTH"]

MAX_DEPTH = 32
_TORCH_DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "bool"}
_NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                 "uint16", "uint32", "uint64", "bool"}


class DataError(ValueError):
    """A probe's document is not valid answer data (too large, too deep, or a foreign type)."""


class Opaque:
    """Stands in, on the judge's side, for an answer that is not a number, tensor or container.

    ``float(opaque)`` gives what ``float()`` gave on the learner's object, or raises TypeError
    as it did.
    """

    def __init__(self, type_name: str, value: float | None = None):
        self.type_name, self.value = type_name, value

    def __float__(self) -> float:
        if self.value is None:
            raise TypeError(f"float() argument must be a string or a real number, not '{self.type_name}'")
        return self.value

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def type_name(value: Any) -> str:
    """The learner's type name of a decoded value (``Opaque`` answers keep their own)."""
    return value.type_name if isinstance(value, Opaque) else type(value).__name__


def to_data(value: Any) -> Any:
    """Encode an answer as JSON-ready data (see the module docstring). Runs in the probe."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.is_complex():
            return {"type": "Tensor"}
        return {"tensor": t.tolist(), "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return {"type": "ndarray"}
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, Mapping):
        return {"mapping": [[to_data(k), to_data(v)] for k, v in value.items()],
                "type": type(value).__name__}
    if isinstance(value, (list, tuple)):
        return {"sequence": [to_data(v) for v in value], "type": "tuple" if isinstance(value, tuple) else "list"}
    out: dict[str, Any] = {"type": type(value).__name__}
    try:
        out["float"] = float(value)
    except Exception:  # noqa: BLE001 - float() of the learner's object may raise anything
        pass
    return out


def from_data(data: Any) -> Any:
    """Rebuild tensors, arrays, dicts and tuples from :func:`to_data`'s output. Runs in the judge.

    Raises:
        DataError: a tag with the wrong shape, dtype or contents.
    """
    if not isinstance(data, dict):
        if isinstance(data, list):
            raise DataError("a bare list where an encoded value was expected")
        return data
    try:
        if "tensor" in data:
            dtype = data["dtype"]
            if dtype not in _TORCH_DTYPES:
                raise DataError(f"tensor dtype {dtype!r} is not allowed")
            t = torch.tensor(data["tensor"], dtype=getattr(torch, dtype))
            if list(t.shape) != list(data["shape"]):
                raise DataError("tensor values do not match the shape")
            return t
        if "array" in data:
            dtype = data["dtype"]
            if dtype not in _NUMPY_DTYPES:
                raise DataError(f"array dtype {dtype!r} is not allowed")
            a = np.array(data["array"], dtype=dtype)
            if list(a.shape) != list(data["shape"]):
                raise DataError("array values do not match the shape")
            return a
        if "mapping" in data:
            return {from_data(k): from_data(v) for k, v in data["mapping"]}
        if "sequence" in data:
            items = [from_data(v) for v in data["sequence"]]
            return tuple(items) if data.get("type") == "tuple" else items
        if "type" in data:
            value = data.get("float")
            if value is not None and not isinstance(value, float):
                raise DataError("an opaque value's float is not a float")
            return Opaque(str(data["type"]), value)
    except DataError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError, OverflowError) as err:
        raise DataError(f"malformed value: {type(err).__name__}: {str(err)[:200]}") from None
    raise DataError(f"unknown tag in {sorted(data)[:5]}")


def validate(document: Any, *, max_items: int = 2_000_000) -> None:
    """Check that ``document`` holds only JSON types, at most ``MAX_DEPTH`` deep and ``max_items`` values.

    Raises:
        DataError: what is wrong, for the grade table.
    """
    count = 0
    stack = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > max_items:
            raise DataError(f"more than {max_items} values")
        if depth > MAX_DEPTH:
            raise DataError(f"nested deeper than {MAX_DEPTH}")
        if value is None or isinstance(value, (bool, str)):
            if isinstance(value, str) and len(value) > 100_000:
                raise DataError("a string longer than 100000 characters")
            continue
        if isinstance(value, int):
            if abs(value) > 2**63:
                raise DataError("an integer out of range")
            continue
        if isinstance(value, float):
            continue
        if isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise DataError("a non-string key")
                stack.append((v, depth + 1))
        else:
            raise DataError(f"a value of type {type(value).__name__}")


def loads(text: str) -> Any:
    """Parse a probe's JSON document strictly (no duplicate keys) and :func:`validate` it."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise DataError("duplicate keys")
        return dict(pairs)

    try:
        document = json.loads(text, object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, RecursionError) as err:
        raise DataError(f"not valid JSON: {str(err)[:200]}") from None
    validate(document)
    return document


def dumps(document: Any) -> str:
    """Serialise a probe's document (JSON; NaN and infinities allowed)."""
    return json.dumps(document, allow_nan=True)
