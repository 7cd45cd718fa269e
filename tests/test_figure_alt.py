"""Every figure carries a text alternative: plots.described, and every chapter shows its figures through it."""

from __future__ import annotations

import ast
import base64
import io
import json
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pytest
from PIL import Image

from vaelib import plots

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))


def _line_figure():
    with plots.figure(4, 3) as (fig, ax):
        ax.plot([0, 1, 2], [3, 1, 2])
        ax.set_title("a line")
    return fig


def test_described_figure_is_the_figures_png_with_the_alt_in_the_metadata():
    fig = _line_figure()
    shown = plots.described(fig, "A line that falls from 3 to 1, then rises to 2.")
    data, metadata = shown._repr_mimebundle_()
    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == shown.png()  # the figure's own pixels, drawn as the inline backend draws them
    width, height = Image.open(io.BytesIO(png)).size
    assert width == pytest.approx(4 * fig.dpi, rel=0.15) and height == pytest.approx(3 * fig.dpi, rel=0.15)
    assert metadata == {"image/png": {"alt": "A line that falls from 3 to 1, then rises to 2."}}
    assert data["text/plain"] == shown.alt  # what a text-only frontend shows instead
    assert shown.figure is fig


def test_the_html_representation_is_the_same_image_with_the_alt():
    """The book (myst-nb) and JupyterLab render text/html before image/png and read no alt from
    an output's metadata: the <img> of the HTML representation is what carries the description."""
    from html.parser import HTMLParser

    shown = plots.described(_line_figure(), 'A line "up" & down: from 3 to 1, then to 2.')
    data, _ = shown._repr_mimebundle_()
    images = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            images.append((tag, dict(attrs)))

    Images().feed(data["text/html"])
    assert [tag for tag, _ in images] == ["img"]
    attrs = images[0][1]
    assert attrs["alt"] == shown.alt  # escaped in the HTML, whole once parsed
    assert attrs["src"] == "data:image/png;base64," + data["image/png"]


def test_ipython_displays_the_alt_with_the_image():
    from IPython.core.formatters import DisplayFormatter

    shown = plots.described(_line_figure(), "A line that falls from 3 to 1, then rises to 2.")
    data, metadata = DisplayFormatter().format(shown)
    assert set(data) >= {"image/png", "text/plain"}
    assert metadata["image/png"]["alt"] == shown.alt


def test_whitespace_in_the_alt_is_collapsed():
    shown = plots.described(_line_figure(), "  A line that\n   falls, then rises.  ")
    assert shown.alt == "A line that falls, then rises."


@pytest.mark.parametrize("alt,message", [
    ("", "empty"),
    ("   \n ", "empty"),
    ("figure", "generic"),
    ("Plot", "generic"),
    ("an image", "generic"),
    ("Figure 3", "generic"),
    ("the chart above", "generic"),
    ("fig_01.png", "file name"),
    ("_build/html/_images/abc123.png", "file name"),
    ("Training curves", "too short"),
    ("Test loss falls to {loss:.1f} nats", "unfilled field"),
])
def test_a_meaningless_alt_is_refused(alt, message):
    with pytest.raises(ValueError, match=message):
        plots.described(_line_figure(), alt)


def test_described_needs_a_figure_and_a_string():
    with pytest.raises(TypeError, match="matplotlib Figure"):
        plots.described("fig.png", "A line that falls from 3 to 1.")
    with pytest.raises(TypeError, match="string"):
        plots.described(_line_figure(), None)


# ---- text contrast (WCAG 2.1: relative luminance, ratio >= 4.5 for text) -----------------------


def test_contrast_ratio_matches_the_wcag_reference_values():
    assert plots.contrast_ratio("black", "white") == pytest.approx(21.0)
    assert plots.contrast_ratio("white", "white") == pytest.approx(1.0)
    assert plots.contrast_ratio("#777777", "white") == pytest.approx(4.48, abs=0.01)  # just fails AA
    assert plots.contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)  # just passes
    assert plots.contrast_ratio("white", "black") == plots.contrast_ratio("black", "white")


def test_the_styles_text_stands_out_from_the_figure_face():
    text_keys = ["text.color", "axes.labelcolor", "axes.titlecolor", "xtick.color", "ytick.color",
                 "xtick.labelcolor", "ytick.labelcolor", "legend.labelcolor"]
    faces = [plots.STYLE[k] for k in ("figure.facecolor", "axes.facecolor", "legend.facecolor")]
    for key in text_keys:
        assert key in plots.STYLE, f"the style leaves {key} to the reader's own matplotlib style"
        for face in faces:
            assert plots.contrast_ratio(plots.STYLE[key], face) >= 4.5, (key, face)
    assert mpl.colors.to_rgba(plots.STYLE["figure.facecolor"])[3] == 1.0  # opaque, in both themes


def test_text_is_readable_even_under_a_dark_user_style():
    """A reader's dark matplotlib style (white text) must not put white text on the white face."""
    with mpl.style.context("dark_background"):
        with plots.figure(4, 3) as (fig, ax):
            ax.plot([0, 1], [0, 1], label="a line")
            title = ax.set_title("what to see")
            label = ax.set_xlabel("step")
            legend = ax.legend()
        fig.canvas.draw()
        face = fig.get_facecolor()
        texts = [title, label, *legend.get_texts(), *ax.get_xticklabels(), *ax.get_yticklabels()]
        for text in texts:
            assert plots.contrast_ratio(text.get_color(), face) >= 4.5, text.get_text()
        assert plots.contrast_ratio(ax.spines["left"].get_edgecolor(), face) >= 3.0


def test_figure_palettes_avoid_red_green_confusion():
    """The line colours stay apart under deuteranopia (Machado et al. 2009 simulation, severity 1)."""
    deuteranopia = np.array([[0.367322, 0.860646, -0.227968],
                             [0.280085, 0.672501, 0.047413],
                             [-0.011820, 0.042940, 0.968881]])

    def simulate(colour):
        rgb = np.array(mpl.colors.to_rgb(colour))
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return np.clip(deuteranopia @ linear, 0, 1)

    seen = [simulate(c) for c in plots.LINE_COLOURS]
    closest = min(np.linalg.norm(a - b) for i, a in enumerate(seen) for b in seen[i + 1:])
    assert closest > 0.05


# ---- every chapter shows its figures through plots.described ------------------------------------

_DRAWING = {name for name in plots.__all__ if name[0].islower()} - {"figure", "described", "contrast_ratio"}


def _code(cell) -> str:
    """A code cell's Python, with IPython's magics and shell lines blanked out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in "".join(cell["source"]).splitlines())


def _own_returns(function: ast.FunctionDef) -> list[ast.Return]:
    """The return statements of a function, not of the functions nested in it."""
    found, todo = [], list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return found


def _figure_makers(cells) -> set[str]:
    """Functions a chapter defines that return a figure (they draw with plots)."""
    makers = set()
    for cell in cells:
        for node in ast.walk(ast.parse(_code(cell))):
            if isinstance(node, ast.FunctionDef) and re.search(
                    r"plots\.(figure|" + "|".join(sorted(_DRAWING)) + r")\(", ast.unparse(node)):
                if any(r.value is not None and not _is_described(r.value) for r in _own_returns(node)):
                    makers.add(node.name)  # returns a bare figure, which its caller then shows
    return makers


def _is_described(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Call) and ast.unparse(expr.func) == "plots.described"


def _shows_a_bare_figure(expr: ast.expr, figure_names: set[str], makers: set[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in figure_names
    if isinstance(expr, ast.Subscript):  # figs[2], from figs[d] = plots.same_style_grid(...)
        return isinstance(expr.value, ast.Name) and expr.value.id in figure_names
    if isinstance(expr, ast.Call):
        f = expr.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "plots":
            return f.attr in _DRAWING
        if isinstance(f, ast.Name):
            if f.id == "display":
                return any(_shows_a_bare_figure(a, figure_names, makers) for a in expr.args)
            return f.id in makers
    return False


def _figure_variables(tree: ast.AST) -> set[str]:
    """Names bound to a figure in a cell: `with plots.figure(...) as (fig, ...)`, `fig = plots.f(...)`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                if "plots.figure" in ast.unparse(item.context_expr) and item.optional_vars is not None:
                    target = item.optional_vars
                    first = target.elts[0] if isinstance(target, ast.Tuple) else target
                    if isinstance(first, ast.Name):
                        names.add(first.id)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if re.match(r"plots\.\w+\(", ast.unparse(node.value)) and \
                    ast.unparse(node.value.func).split(".")[-1] in _DRAWING:
                for target in node.targets:
                    if isinstance(target, ast.Subscript):
                        target = target.value
                    if isinstance(target, ast.Name):
                        names.add(target.id)
    return names


def undescribed_figures(cells) -> list[str]:
    """Where a chapter shows a figure without plots.described (as "[cell id] code")."""
    cells = [c for c in cells if c["cell_type"] == "code"]
    makers = _figure_makers(cells)
    found = []
    for cell in cells:
        tree = ast.parse(_code(cell))
        names = _figure_variables(tree)
        shown = [s.value for s in tree.body if isinstance(s, ast.Expr)]
        last_only = [e for e in shown if not (isinstance(e, ast.Call) and isinstance(e.func, ast.Name)
                                              and e.func.id == "display")]
        displayed = [e for e in shown if e not in last_only]
        candidates = displayed + ([tree.body[-1].value] if tree.body and isinstance(tree.body[-1], ast.Expr)
                                  and tree.body[-1].value in last_only else [])
        for expr in candidates:
            if _shows_a_bare_figure(expr, names, makers):
                found.append(f"[{cell.get('id')}] {ast.unparse(expr)[:80]}")
    return found


def test_the_scan_finds_bare_figures_and_accepts_described_ones():
    def cell(source):
        return {"cell_type": "code", "id": "x", "source": source}

    bare = [
        "with plots.figure(4, 3) as (fig, ax):\n    ax.plot([1, 2])\nfig",
        "plots.image_grid(x, ncols=8)",
        "fig = plots.latent_scatter(z, y)\nfig.axes[0].set_xlim(0, 1)\nfig",
        "display(plots.roc_curves(curves))\nprint('done')",
        "%matplotlib inline\nplots.training_curves(history)",
    ]
    for source in bare:
        assert undescribed_figures([cell(source)]), source
    maker = cell("def bars(r):\n    with plots.figure(4, 3) as (fig, ax):\n        ax.bar(r, r)\n    return fig")
    assert undescribed_figures([maker, cell("bars([1, 2])")])
    assert undescribed_figures([cell("figs = {}\nfor d in (2, 8):\n    figs[d] = plots.image_grid(x[d])\nfigs[2]")])
    maker = cell("def bars(r):\n    with plots.figure(4, 3) as (fig, ax):\n        ax.bar(r, r)\n"
                 "    return plots.described(fig, f'Bars of heights {r}, rising.')")
    assert not undescribed_figures([maker, cell("bars([1, 2])")])
    described = [
        "with plots.figure(4, 3) as (fig, ax):\n    ax.plot([1, 2])\nplots.described(fig, f'A line from 1 to 2.')",
        "plots.described(plots.image_grid(x), f'{len(x)} digits, one per class.')",
        "fig = plots.latent_scatter(z, y)\nprint(fig)",  # a figure that is not shown
    ]
    for source in described:
        assert not undescribed_figures([cell(source)]), source


def test_every_chapter_shows_its_figures_through_plots_described():
    assert CHAPTERS
    found = []
    for path in CHAPTERS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        found += [f"{path.name} {where}" for where in undescribed_figures(cells)]
    assert not found, ("show each figure as plots.described(fig, f\"what it shows, what to see, its "
                       "numbers\"):\n" + "\n".join(found))


def test_lines_and_reference_lines_stand_out_from_the_face():
    """WCAG 2.1 asks 3:1 for the parts of a graphic a reader needs: the first four line colours
    (most figures draw at most four) and the grey of reference lines reach it."""
    face = plots.STYLE["axes.facecolor"]
    for colour in plots.LINE_COLOURS[:4]:
        assert plots.contrast_ratio(colour, face) >= 3.0, colour
    assert plots.contrast_ratio(plots.REFERENCE_GREY, face) >= 4.5
