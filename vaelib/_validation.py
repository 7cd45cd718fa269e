"""Checks of arguments shared by the library's entry points, so every one words its error alike."""

from __future__ import annotations

import numbers

__all__ = ["positive_int", "batch_slices"]


def positive_int(name: str, value) -> int:
    """``value`` as an ``int`` if it is a whole number of at least 1, else a ValueError.

    Python and NumPy integers pass; floats (even ``3.0``), booleans and strings do not, so a
    count such as a batch size never silently becomes a slice bound of the wrong kind.

    Args:
        name: the argument's name, for the message, e.g. ``"batch_size"``.
        value: what the caller passed.

    Returns:
        ``int(value)``.

    Raises:
        ValueError: ``value`` is not an integer of at least 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def batch_slices(n: int, batch_size) -> list[slice]:
    """Slices that cut ``n`` rows into batches of ``batch_size`` (the last one shorter).

    Every function that works through data in batches takes them from here, so a batch size such
    as ``2.5`` gets the same clear error everywhere.
    """
    size = positive_int("batch_size", batch_size)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]
