"""Checks of arguments shared by the library's entry points, so every one words its error alike.

One meaning everywhere: a count or an index is an integer (Python, NumPy or a 0-d integer
tensor); a bool is never a count, and a float is never an integer, not even ``3.0``, so that
``2.5`` is refused rather than silently cut to 2. A real number may be any of these but a bool,
and must be finite. Each error says what was passed and what to pass instead.
"""

from __future__ import annotations

import math
import numbers
import operator

__all__ = ["integer", "positive_int", "index", "indices", "number", "batch_slices"]


def _is_bool(value) -> bool:
    # NumPy's bool_ and a bool tensor are bools too (their dtype says so)
    return isinstance(value, bool) or "bool" in str(getattr(value, "dtype", ""))


def _why_not_int(value) -> str:
    kind = "bool" if _is_bool(value) else type(value).__name__
    return f" (a {kind}: pass an int)"


def _as_int(value) -> int | None:
    """``value`` as an int if it is an integer, else None (bools and floats are not)."""
    if _is_bool(value):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def integer(name: str, value, *, at_least: int = 0, advice: str = "") -> int:
    """``value`` as an ``int`` if it is an integer of at least ``at_least``, else a ValueError.

    Args:
        name: the argument's name, for the message, e.g. ``"latent_dim"``.
        value: what the caller passed.
        at_least: the smallest value allowed.
        advice: a sentence appended to the message (what the number means, a good value).

    Returns:
        ``value`` as a Python ``int``.

    Raises:
        ValueError: ``value`` is a bool, a float, anything else that is not an integer, or too small.
    """
    as_int = _as_int(value)
    if as_int is None or as_int < at_least:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            at_least, f"an integer of at least {at_least}")
        why = _why_not_int(value) if as_int is None else ""
        raise ValueError(f"{name} must be {kind}, got {value!r}{why}." + (f" {advice}" if advice else ""))
    return as_int


def positive_int(name: str, value) -> int:
    """``value`` as an ``int`` if it is an integer of at least 1 (a count), else a ValueError."""
    return integer(name, value, at_least=1)


def index(name: str, value, size: int) -> int:
    """``value`` as an ``int`` if it is an integer in ``0..size - 1``, else a ValueError."""
    as_int = _as_int(value)
    if as_int is None or not 0 <= as_int < size:
        why = _why_not_int(value) if as_int is None else ""
        raise ValueError(f"{name} must lie in 0..{size - 1}, got {value!r}{why}.")
    return as_int


def indices(name: str, values, size: int) -> list[int]:
    """``values`` as a list of ints, each in ``0..size - 1``, else a ValueError naming them all."""
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a list of integers in 0..{size - 1}, got {values!r}.") from None
    found = [_as_int(v) for v in items]
    if any(v is None or not 0 <= v < size for v in found):
        bad = next((v for v in items if _as_int(v) is None), None)
        why = _why_not_int(bad) if bad is not None else ""
        raise ValueError(f"{name} must lie in 0..{size - 1}, got {items}{why}.")
    return found


def _as_real(value) -> float | None:
    """``value`` as a float if it is a real number (a 0-d array or tensor too), else None."""
    if _is_bool(value):
        return None
    if isinstance(value, numbers.Real) or getattr(value, "shape", None) == ():
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None


def number(name: str, value, *, above: float | None = None, at_least: float | None = None,
           at_most: float | None = None, below: float | None = None, advice: str = "") -> float:
    """``value`` as a finite ``float`` within the given bounds, else a ValueError.

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        above, at_least: the lower bound, excluded or included (give at most one).
        at_most, below: the upper bound, included or excluded (give at most one).
        advice: a sentence appended to the message.

    Returns:
        ``float(value)``.

    Raises:
        ValueError: ``value`` is a bool, not a number, not finite, or out of bounds.
    """
    as_real = _as_real(value)
    fits = as_real is not None and math.isfinite(as_real) and (
        (above is None or as_real > above) and (at_least is None or as_real >= at_least)
        and (at_most is None or as_real <= at_most) and (below is None or as_real < below))
    if not fits:
        low = ("(", above) if above is not None else ("[", at_least) if at_least is not None else None
        high = (")", below) if below is not None else ("]", at_most) if at_most is not None else None
        if low and high:
            kind = f"a number in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
        elif high is None and low == ("(", 0):
            kind = "a positive number"
        elif high is None and low == ("[", 0):
            kind = "a non-negative number"
        elif low:
            kind = f"a number {'greater than' if low[0] == '(' else 'of at least'} {low[1]:g}"
        elif high:
            kind = f"a number {'less than' if high[0] == ')' else 'of at most'} {high[1]:g}"
        else:
            kind = "a number"
        why = (f" (a {'bool' if _is_bool(value) else type(value).__name__}: pass a number)"
               if as_real is None else "" if math.isfinite(as_real) else " (not finite)")
        raise ValueError(f"{name} must be {kind}, got {value!r}{why}." + (f" {advice}" if advice else ""))
    return as_real


def batch_slices(n: int, batch_size) -> list[slice]:
    """Slices that cut ``n`` rows into batches of ``batch_size`` (the last one shorter).

    Every function that works through data in batches takes them from here, so a batch size such
    as ``2.5`` gets the same clear error everywhere.
    """
    size = positive_int("batch_size", batch_size)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]
