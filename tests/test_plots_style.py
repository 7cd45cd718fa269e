"""Every figure carries the course style: plots.figure draws inside it, and so does every plots function."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex, to_rgba

from vaelib import plots


def _check_style(fig, ax):
    assert to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert to_rgba(ax.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.spines["left"].get_visible() and ax.spines["bottom"].get_visible()
    assert ax.title.get_fontsize() == plots.STYLE["axes.titlesize"]


def test_a_figure_from_plots_figure_carries_the_style():
    with mpl.rc_context({"axes.titlesize": 20, "image.cmap": "viridis", "font.size": 14}):  # a user's own
        with plots.figure(4, 3) as (fig, ax):
            lines = [ax.plot([0, 1], [0, i])[0] for i in range(3)]
            image = ax.imshow(np.zeros((2, 2)))
            legend = ax.legend(["a", "b", "c"])
            title = ax.set_title("what to see")
    _check_style(fig, ax)
    assert [to_hex(line.get_color()).upper() for line in lines] == plots.LINE_COLOURS[:3]
    assert image.get_cmap().name == plots.STYLE["image.cmap"]
    assert title.get_fontsize() == plots.STYLE["axes.titlesize"]
    assert legend.get_texts()[0].get_fontsize() == plots.STYLE["font.size"]
    assert mpl.rcParams["image.cmap"] == "viridis"  # the style does not leak out of the block


def test_plots_figure_builds_a_grid_of_axes():
    with plots.figure(6, 3, ncols=2, sharey=True) as (fig, axes):
        assert axes.shape == (2,)
    assert fig.get_size_inches() == pytest.approx((6, 3))
    for ax in axes:
        _check_style(fig, ax)
    with plots.figure(3, 3, nrows=0) as (bare, none):
        assert none is None and not bare.axes


def test_every_plots_function_draws_in_the_style():
    imgs = torch.rand(6, 1, 8, 8)
    points = torch.randn(40, 2)
    figures = {
        "image_grid": plots.image_grid(imgs, ncols=3),
        "latent_scatter": plots.latent_scatter(points, torch.randint(0, 10, (40,))),
        "roc_curves": plots.roc_curves({"s": (np.array([0, 0.5, 1]), np.array([0, 1, 1]))}),
        "samples_over_data": plots.samples_over_data(points, {"model": points}),
        "manifold_grid": plots.manifold_grid(lambda z: torch.rand(len(z), 1, 8, 8), n=3),
    }
    for name, fig in figures.items():
        ax = fig.axes[0]
        assert not ax.spines["top"].get_visible(), name  # the course style, not matplotlib's default
        assert to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0), name
    roc = figures["roc_curves"].axes[0]
    assert roc.title.get_fontsize() == plots.STYLE["axes.titlesize"]


def test_every_chapter_draws_through_plots():
    """No chapter builds a figure outside the course style (pyplot, or a hand-made Figure)."""
    import json
    import re
    from pathlib import Path

    outside = re.compile(r"matplotlib\.pyplot|\bplt\.|\bFigure\(|set_facecolor|rcParams")
    chapters = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
    assert chapters
    found = []
    for path in chapters:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                found += [f"{path.name} [{cell.get('id')}]: {line.strip()}"
                          for line in "".join(cell["source"]).splitlines() if outside.search(line)]
    assert not found, "draw with `with plots.figure(...) as (fig, ax):` instead:\n" + "\n".join(found)
