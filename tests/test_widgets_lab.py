"""The live explorers show what the book's explorers show: the figure under the sliders, a map that
answers a click (as the kernel-free page does, vaelib/web_explorer.js), on the same plot box."""

from __future__ import annotations

import base64
from io import BytesIO

import ipywidgets as w
import pytest
import torch
from PIL import Image

from vaelib.models import VAE, ConditionalVAE
from vaelib.widgets import ClickableImage, ConditionalExplorer, LatentExplorer, PlaneExplorer


def _images(widget) -> list[bytes]:
    """Every PNG shown by a widget tree (ipywidgets Images and clickable maps)."""
    if isinstance(widget, w.Image):
        return [widget.value]
    if isinstance(widget, ClickableImage):
        return [base64.b64decode(widget.png)]
    return [png for child in getattr(widget, "children", ()) for png in _images(child)]


@pytest.mark.parametrize("make", [
    lambda: LatentExplorer(VAE(3, hidden=(16,)).eval()),
    lambda: ConditionalExplorer(ConditionalVAE(2, num_classes=3, hidden=(16,)).eval(), label=1),
])
def test_the_widget_shows_the_books_figure_under_its_sliders(make):
    explorer = make()
    shown = _images(explorer.widget)
    assert explorer.static_png in shown, "the traversal / same-style grid is part of the live widget"
    # under the controls: after the decoded picture
    assert shown.index(explorer.static_png) > shown.index(explorer.picture.value)


def _plane(extent=(-2.0, 2.0)):
    model = VAE(3, hidden=(16,)).eval()
    return model, PlaneExplorer(model, dims=(0, 2), extent=extent, grid=5)


def test_a_click_on_the_map_moves_the_point_to_the_clicked_code():
    model, explorer = _plane()
    left, top, right, bottom = explorer.plane_box
    assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
    # a quarter of the way across the plot area, three quarters of the way down: (-1, -1)
    fx, fy = left + 0.25 * (right - left), top + 0.75 * (bottom - top)
    center = [(left + right) / 2, (top + bottom) / 2]
    assert explorer.map.marker == pytest.approx(center), "the marker starts at z0 = 0"
    explorer.map.click = [fx, fy, 1]  # what the page sends
    a, b = (s.value for s in explorer.sliders)
    assert [a, b] == pytest.approx([-1.0, -1.0], abs=0.026)
    assert explorer.z.tolist() == pytest.approx([a, 0.0, b])
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(explorer.z.unsqueeze(0)))[0]
    assert torch.allclose(explorer.image, expected)
    # the marker is drawn where the new point lies: the click, up to the slider's step
    assert explorer.map.marker == pytest.approx([fx, fy], abs=0.026 / 4 * (right - left) + 1e-6)
    explorer.sliders[0].value = 2.0  # the marker follows the sliders too
    assert explorer.map.marker[0] == pytest.approx(right)


def test_a_click_beside_the_plot_area_goes_to_the_nearest_edge():
    _, explorer = _plane((-3.0, 3.0))
    explorer.map.click = [0.0, 1.0, 1]  # the image's bottom-left corner, outside the axes
    assert [s.value for s in explorer.sliders] == pytest.approx([-3.0, -3.0])
    explorer.click(1.0, 0.0)
    assert [s.value for s in explorer.sliders] == pytest.approx([3.0, 3.0])


def test_the_map_is_the_plane_figure_and_a_valid_png():
    _, explorer = _plane()
    png = base64.b64decode(explorer.map.png)
    assert png == explorer.static_png and Image.open(BytesIO(png)).size[0] > 100
    explorer.click(0.5, 0.5)
    assert base64.b64decode(explorer.map.png) == png, "a move draws no new PNG; the page moves the marker"
    assert "click" in ClickableImage._esm and "change:marker" in ClickableImage._esm
