"""Numbers that a chapter's text quotes from its own run.

A sentence such as "the VAE reached −98.3 nats" is true only for the run that printed it. So the
chapters never type such a number: the cell that computes it hands it to :func:`glue` under a
name, and the Markdown quotes it by that name::

    glue("test_nll", -nll)                    # in the code cell
    The test bound is {glue:text}`test_nll:.2f` nats.   # in the Markdown cell

Words that depend on a result ("higher", "on every seed") are glued the same way, as strings.

Two readers see the value:

- **The book** (myst-nb): :func:`glue` writes the value into the cell's outputs in myst-nb's glue
  format (a display output whose MIME types carry the ``application/papermill.record/`` prefix and
  whose metadata names the key), and ``{glue:text}`` pastes it into the page at build time.
- **JupyterLab** (jupyterlab-myst): it cannot read glue outputs, but it evaluates MyST's ``{eval}``
  role in the kernel. The learner's copies of the chapters (``tools/lab.py``) therefore spell each
  reference as ``{eval}`vaelib.prose.text("test_nll", ".2f")```, which formats the value this
  module kept from the same run.

The format spec follows Python's format mini-language, as ``{glue:text}`` does.
"""

from __future__ import annotations

import math
from typing import Any

from IPython.display import display

__all__ = ["glue", "glue_claim", "text", "Inline"]

# myst-nb reads a glue output by these two markers (its ``GLUE_PREFIX`` and "scrapbook" metadata).
GLUE_PREFIX = "application/papermill.record/"

_values: dict[str, Any] = {}


class Inline:
    """A formatted value that a notebook front end shows as bare text.

    jupyterlab-myst shows an ``{eval}`` result through its ``text/plain`` form; a ``str`` would
    show with quotes, this shows only its text.
    """

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


def glue(name: str, value: Any) -> None:
    """Keep ``value`` under ``name`` for the text of this chapter.

    It returns nothing, so a ``glue(...)`` on a cell's last line adds no ``Out[]`` to the cell.

    Numbers (``int``, ``float``, NumPy or 0-d torch scalars) and strings can be glued; anything else
    is refused, because the text can only quote a value that prints as one short token.

    Raises:
        ValueError: ``name`` is not an identifier-like key, or ``value`` is not a number or string,
            or is a NaN or infinite number (a sentence would state a broken run as a result).
    """
    if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
        raise ValueError(f"a glue name must be ASCII letters, digits and underscores, not starting "
                         f"with a digit; got {name!r}")
    _store(name, value)


def _store(name: str, value: Any) -> None:
    plain = _plain(name, value)
    _values[name] = plain
    # An empty unprefixed text/plain: JupyterLab then shows an empty output instead of "no
    # renderer could be found" for the glue record, which only the book reads.
    bundle = {"text/plain": "", GLUE_PREFIX + "text/plain": repr(plain)}
    display(bundle, raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


def glue_claim(name: str) -> dict:
    """Glue the three-seed result of one of ``bench/claims.py``'s claims, for the text to quote.

    The claims benchmark re-runs each comparison of the book on several seeds and stores the
    result with the package (:mod:`vaelib.bench_results`). For the claim ``"ch4-20d-beats-2d"`` this
    glues, under the prefix ``ch4_20d_beats_2d_``: for each of ``a``, ``b`` (the compared
    quantities) and ``diff`` (their paired difference) the ``mean``, ``std``, ``min``, ``max`` and
    one value per seed (``seed0``, ``seed1``, ...), or ``b_threshold`` where the claim compares
    ``a`` with a fixed number; ``n_seeds``; and ``holds``, the words "on every seed" or "not on
    every seed". A claim about the mean over many seeds (chapter 6's MIG) also glues
    ``diff_sign_flip_p`` (the exact sign-flip test's p-value), ``diff_p_text`` (the same as the text
    writes it: "p = 0.023", "p < 0.001") and ``diff_positive_seeds`` (on how many seeds ``a`` was
    ahead), and its ``holds`` says "beyond chance" or "within chance".

    Returns:
        The claim's record, as the benchmark wrote it.

    Raises:
        KeyError: no claim of that name is stored (the list is in the message).
    """
    from . import bench_results  # the benchmarks' data, only needed here

    claims = bench_results.load("claims")["claims"]
    if name not in claims:
        raise KeyError(f"no claim {name!r} in the stored benchmark results; stored: {', '.join(claims)}")
    claim = claims[name]
    prefix = name.replace("-", "_") + "_"
    for part, record in (("a", claim["a"]), ("b", claim["b"]), ("diff", claim["paired_difference"])):
        if "threshold" in record:  # a claim against a fixed number: b is that number
            _store(prefix + f"{part}_threshold", record["threshold"])
            continue
        for stat in ("mean", "std", "min", "max"):
            _store(prefix + f"{part}_{stat}", record[stat])
        for seed, value in enumerate(record["per_seed"]):
            _store(prefix + f"{part}_seed{seed}", value)
    _store(prefix + "n_seeds", len(claim["seeds"]))
    difference = claim["paired_difference"]
    if "sign_flip_p" in difference:  # judged on the mean over the seeds
        p = difference["sign_flip_p"]
        _store(prefix + "diff_sign_flip_p", p)
        _store(prefix + "diff_positive_seeds", difference["positive_seeds"])
        # as the text writes it: three decimals would print 0.0003 as 0.000
        _store(prefix + "diff_p_text", "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}")
        _store(prefix + "holds", "beyond chance" if p < 0.05 else "within chance")  # bench/claims.py's SIGNIFICANCE
    else:
        _store(prefix + "holds", "on every seed" if claim["verdict"] == "PASS" else "not on every seed")
    return claim


def text(name: str, fmt: str = "") -> Inline:
    """The value glued under ``name``, formatted with ``fmt`` (what ``{glue:text}`name:fmt``` shows).

    Raises:
        KeyError: nothing was glued under ``name`` in this kernel yet (run the cells above first).
    """
    if name not in _values:
        raise KeyError(f"nothing is glued under {name!r} yet: run the code cells above this text "
                       f"first (glued so far: {', '.join(sorted(_values)) or 'nothing'})")
    return Inline(format_value(_values[name], fmt))


def format_value(value: Any, fmt: str) -> str:
    """Format a glued value as myst-nb's ``{glue:text}`` does: the spec's type picks the conversion."""
    if not fmt:
        return str(value)
    kind = fmt[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt)


def _plain(name: str, value: Any) -> int | float | str:
    if isinstance(value, str):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # NumPy or torch scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"glue {name!r}: a number or a string can be quoted in the text, not "
                         f"{type(value).__name__}; glue each number you quote under its own name")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue {name!r}: the value is {value}; the run that produced it is broken, "
                         f"and a sentence must not quote it as a result")
    return value
