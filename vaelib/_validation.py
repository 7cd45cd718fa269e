"""Checks of arguments shared by the library's entry points, so every one words its error alike."""

from __future__ import annotations

import numbers

__all__ = ["positive_int"]


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
