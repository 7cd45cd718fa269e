"""The course's figure style and the text alternative every figure carries.

:func:`figure` builds a ``matplotlib.figure.Figure`` (no pyplot state) in the course style
(:data:`STYLE`): an opaque white background, so the figure stays readable in the book's dark theme,
text and axes in black, colour-blind-safe colours, no top or right spine. :func:`described` shows a
figure with its description, which :func:`check_alt` vets; the explorers of :mod:`vaelib.widgets`
vet theirs with it too. :func:`contrast_ratio` is WCAG's measure, with which the tests hold the
style's colours to WCAG 2.1 AA. :mod:`vaelib.plots` draws the course's kinds of figures on this
layer and exports its names as well, so a chapter needs only ``plots``.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
from matplotlib.figure import Figure

__all__ = [
    "DIGIT_COLOURS",
    "LINE_COLOURS",
    "REFERENCE_GREY",
    "STYLE",
    "DescribedFigure",
    "check_alt",
    "contrast_ratio",
    "described",
    "figure",
]

# Paul Tol's "muted" scheme (designed to stay distinguishable under colour-vision deficiency)
# plus a neutral grey: ten classes, one colour each.
DIGIT_COLOURS = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
                 "#DDCC77", "#CC6677", "#882255", "#AA4499", "#777777"]
LINE_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]  # Okabe-Ito
# A reference line (chance, a threshold) in grey that still stands out from the white face at
# 4.5:1; the first four line colours reach WCAG's 3:1 for graphics, the last two (orange, sky blue)
# do not and are best kept for a fifth and sixth line.
REFERENCE_GREY = "#767676"

# The course style: matplotlib reads these when an axes, a text or an image is created, so
# everything of a figure must be drawn while they apply (inside ``with figure(...)``).
STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "legend.facecolor": "white",
    # Text and axes in black, set here rather than inherited, so that a reader's own style (a dark
    # one sets white text) cannot put light text on the white face: 21:1, WCAG asks 4.5:1.
    "text.color": "black",
    "axes.labelcolor": "black",
    "axes.titlecolor": "black",
    "axes.edgecolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
    "xtick.labelcolor": "black",
    "ytick.labelcolor": "black",
    "legend.labelcolor": "black",
    "figure.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=LINE_COLOURS),
    "image.cmap": "gray",
}


@contextmanager
def figure(width: float, height: float, *, nrows: int = 1, ncols: int = 1,
           **subplots_args) -> Iterator[tuple[Figure, object]]:
    """A new figure in the course style, with its axes; draw on them inside the ``with`` block.

    The style (:data:`STYLE`) applies for the whole block: the axes are built in it (no top or
    right spine, the colour cycle :data:`LINE_COLOURS`, the font sizes) and so is everything drawn
    on them (titles, legends, the default colormap of images).

    Args:
        width, height: the figure's size in inches.
        nrows, ncols: a grid of axes; ``nrows = ncols = 0`` adds none (add them yourself).
        **subplots_args: passed to ``Figure.subplots`` (``sharex``, ``sharey``, ``squeeze``, ...).

    Yields:
        ``(fig, axes)``: a constrained-layout ``Figure`` and its axes, as ``Figure.subplots``
        returns them (one ``Axes``, or an array of them); ``None`` without axes.
    """
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, **subplots_args) if nrows and ncols else None
        yield fig, axes


# Words that name the kind of thing shown, not what it shows: a description made of them alone
# tells a reader who cannot see the figure nothing.
_GENERIC_ALT = {
    "a", "an", "the", "figure", "fig", "plot", "image", "img", "picture", "chart", "graph",
    "diagram", "output", "result", "results", "png", "alt", "text", "description", "untitled",
    "todo", "tbd", "placeholder", "see", "above", "below", "here", "this", "of", "no",
}
_FILE_NAME = re.compile(r"^\S*[\\/]\S*$|^\S+\.(png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)
_UNFILLED = re.compile(r"\{[A-Za-z_][^{}]*\}")  # "{loss:.1f}": an f-string whose f was forgotten


def check_alt(alt: str) -> str:
    """The description, whitespace collapsed, or a ValueError that says what is wrong with it."""
    if not isinstance(alt, str):
        raise TypeError(f"The description must be a string, not {type(alt).__name__}.")
    text = " ".join(alt.split())
    advice = ("Say what the figure shows and what the reader should see in it, with its key "
              "numbers from the run, e.g. f\"Test loss against the step: it falls to {loss:.1f} nats\".")
    if not text:
        raise ValueError(f"The figure's description is empty. {advice}")
    if _FILE_NAME.match(text):
        raise ValueError(f"The figure's description {text!r} is a file name or path. {advice}")
    words = re.findall(r"[^\W_]+", text.lower())
    if all(w in _GENERIC_ALT or w.isdigit() for w in words):
        raise ValueError(f"The figure's description {text!r} is a generic word. {advice}")
    if len(words) < 4:
        raise ValueError(f"The figure's description {text!r} is too short to say what the figure "
                         f"shows ({len(words)} words; write at least 4). {advice}")
    unfilled = _UNFILLED.search(text)
    if unfilled:
        raise ValueError(f"The figure's description has an unfilled field {unfilled.group()!r}: "
                         "was the string meant to be an f-string?")
    return text


def _figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, drawn as the notebook's inline backend draws it (tight box, own dpi)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight",
                facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    return buffer.getvalue()


class DescribedFigure:
    """A figure and its text alternative; displayed in a notebook, the figure with that alt text.

    Built by :func:`described`. The notebook output carries the figure three ways:

    - ``text/html``: an ``<img>`` of the PNG with the description as its ``alt``. The book's
      builder (myst-nb) and JupyterLab both prefer HTML to a PNG, and neither reads an ``alt``
      from an output's metadata (myst-nb 1.4 takes only ``width`` and ``height`` from it, and
      JupyterLab's image renderer none), so this is what puts the description on the image in
      the book and in JupyterLab.
    - ``image/png`` with ``{"image/png": {"alt": ...}}`` in the output's metadata, for the tools
      that read it (nbconvert's HTML export) and those that take no HTML (LaTeX, PDF).
    - ``text/plain``: the description, for a frontend that shows only text.

    Attributes:
        figure: the matplotlib figure.
        alt: the description, whitespace collapsed.
    """

    def __init__(self, fig: Figure, alt: str):
        if not isinstance(fig, Figure):
            raise TypeError(f"described() takes a matplotlib Figure, not {type(fig).__name__}.")
        self.figure = fig
        self.alt = check_alt(alt)

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        return _figure_png(self.figure)

    def _repr_mimebundle_(self, include=None, exclude=None):
        png = base64.b64encode(self.png()).decode("ascii")
        img = f'<img src="data:image/png;base64,{png}" alt="{html.escape(self.alt, quote=True)}">'
        data = {"text/html": img, "image/png": png, "text/plain": self.alt}
        return data, {"image/png": {"alt": self.alt}}

    def __repr__(self) -> str:
        return f"DescribedFigure({self.alt!r})"


def described(fig: Figure, alt: str) -> DescribedFigure:
    """Show ``fig`` with a text alternative: what it shows and what the reader should see in it.

    Every figure a chapter shows goes through this, as the cell's last expression, so the
    description is written next to the code that draws the figure, with its numbers formatted from
    the run's variables (never typed)::

        fig = plots.latent_scatter(z, y)
        plots.described(fig, f"Codes of {len(z):,} test digits in 2-D: each digit forms its own "
                             f"cluster; the codes span {z.min():.1f} to {z.max():.1f}.")

    Args:
        fig: the figure (from :func:`figure` or any function of this module).
        alt: a sentence or two in plain text (no LaTeX: a screen reader reads it out).

    Returns:
        A :class:`DescribedFigure`, displayed as the figure's PNG with ``alt`` as its alt text.

    Raises:
        ValueError: the description is empty, a file name, only generic words ("figure",
            "plot", "image"), shorter than four words, or has an unfilled ``{field}``.
    """
    return DescribedFigure(fig, alt)


def _relative_luminance(colour) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour (any matplotlib colour spec)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in mpl.colors.to_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground, background) -> float:
    """WCAG 2.1 contrast ratio of two colours, from 1 (none) to 21 (black on white).

    WCAG 2.1 AA asks at least 4.5 for text, 3 for large text and for the parts of a graphic a
    reader needs.
    """
    lighter, darker = sorted((_relative_luminance(foreground), _relative_luminance(background)),
                             reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
