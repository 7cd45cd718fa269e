"""The kernel-free explorers in a real browser: the page's decoding against PyTorch, the controls,
and the explorers of the built book.

The first tests write explorers of freshly built models into a page of their own, so they can
compare the browser's numbers with PyTorch's for any code; the last ones open the book's chapters
and compare each explorer with the PyTorch image that the chapter embedded when it was executed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from vaelib.models import VAE, ConditionalVAE
from vaelib.web_explorer import export_decoder
from vaelib.widgets import ConditionalExplorer, LatentExplorer, PlaneExplorer

from .conftest import new_page

# One xdist worker runs this file: its tests share one page (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("explorers")

# The chapters whose explorers the issue asks for, and how many each page has.
BOOK_EXPLORERS = {"chapters/04_vae.html": 2, "chapters/06_beta_vae.html": 1, "chapters/07_cvae.html": 1}

READ_CANVAS = """root => {
    const canvas = root.querySelector("canvas.vaelib-explorer-canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    return {width: canvas.width, height: canvas.height, data: Array.from(pixels.data)};
}"""


def _canvas_image(locator, shape) -> np.ndarray:
    """The image drawn on an explorer's canvas, read back at the centre of each image pixel."""
    canvas = locator.evaluate(READ_CANVAS)
    rgba = np.array(canvas["data"], dtype=np.float64).reshape(canvas["height"], canvas["width"], 4)
    h, w = shape[-2:]
    zoom_y, zoom_x = canvas["height"] // h, canvas["width"] // w
    return rgba[zoom_y // 2::zoom_y, zoom_x // 2::zoom_x, 0][:h, :w] / 255


def _decode_in_page(locator, codes: torch.Tensor, label: int | None = None) -> torch.Tensor:
    out = locator.evaluate("(root, args) => args.codes.map(c => Array.from(root.vaelib.decode(c, args.label)))",
                           {"codes": codes.tolist(), "label": label})
    return torch.tensor(out, dtype=torch.float32)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    # The chapters' sizes: the 20-D and 2-D MNIST VAEs, the 8-D CVAE, the 64x64 sprites VAE.
    return {"vae": VAE(20), "plane": VAE(2), "cvae": ConditionalVAE(8),
            "sprites": VAE(6, hidden=(256, 128), image_shape=(1, 64, 64))}


@pytest.fixture(scope="module")
def explorer_page(browser, models, tmp_path_factory):
    """One page with an explorer of each kind, loaded from a file; any outside request is refused."""
    z0 = torch.randn(20, generator=torch.Generator().manual_seed(1))
    blocks = [LatentExplorer(models["vae"], z0=z0, dims=[0, 5, 7]).web_html,
              PlaneExplorer(models["plane"], extent=(-2.5, 2.5), grid=5).web_html,
              ConditionalExplorer(models["cvae"], label=3).web_html,
              LatentExplorer(models["sprites"]).web_html]
    path = tmp_path_factory.mktemp("explorer") / "explorers.html"
    path.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    + "\n".join(blocks) + "</body></html>", encoding="utf-8")
    opened, context = new_page(browser, path.parent.as_uri() + "/", path.name)
    opened.page.wait_for_function(
        "document.querySelectorAll('.vaelib-explorer[data-ready=\"1\"]').length === 4")
    yield opened.page, opened
    context.close()


def test_explorers_start_offline_without_errors(explorer_page):
    _, opened = explorer_page
    assert opened.external_urls == [], f"the explorers asked for outside resources: {opened.external_urls}"
    assert opened.console_errors == [] and opened.external_console_errors == [], opened.console_errors
    assert opened.page_errors == [], opened.page_errors


@pytest.mark.parametrize("index,name", [(0, "vae"), (1, "plane"), (3, "sprites")])
def test_browser_decoding_matches_pytorch(explorer_page, models, index, name):
    page, _ = explorer_page
    model = models[name]
    codes = torch.randn(8, model.latent_dim, generator=torch.Generator().manual_seed(index)) * 1.5
    in_browser = _decode_in_page(page.locator(".vaelib-explorer").nth(index), codes)
    same_weights = export_decoder(model).decode(codes).reshape(8, -1)
    with torch.no_grad():
        full_precision = torch.sigmoid(model.decode(codes)).reshape(8, -1)
    # The same arithmetic as PyTorch on the page's float16 weights, to float32 rounding ...
    assert (in_browser - same_weights).abs().max() < 1e-5
    # ... and within 0.2% of the full-precision model.
    assert (in_browser - full_precision).abs().max() < 0.002


def test_conditional_decoding_matches_pytorch_for_every_label(explorer_page, models):
    page, _ = explorer_page
    cvae = models["cvae"]
    root = page.locator(".vaelib-explorer").nth(2)
    codes = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    for label in range(10):
        in_browser = _decode_in_page(root, codes, label)
        with torch.no_grad():
            full = torch.sigmoid(cvae.decode(codes, torch.full((3,), label))).reshape(3, -1)
        assert (in_browser - export_decoder(cvae).decode(codes, torch.full((3,), label)).reshape(3, -1)).abs().max() < 1e-5
        assert (in_browser - full).abs().max() < 0.002, f"label {label}"


def test_moving_a_slider_redraws_pytorchs_image(explorer_page, models):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(0)
    before = _canvas_image(root, (28, 28))
    slider = root.locator("input[type=range]").nth(1)  # latent z6
    slider.fill("2.25")
    code = torch.tensor(root.evaluate("root => root.vaelib.state.code"), dtype=torch.float32)
    assert code[5].item() == pytest.approx(2.25)
    assert root.locator("output").nth(1).inner_text() == "2.25"
    after = _canvas_image(root, (28, 28))
    assert np.abs(after - before).max() > 0.05, "the canvas did not change"
    with torch.no_grad():
        expected = torch.sigmoid(models["vae"].decode(code[None]))[0, 0].numpy()
    assert np.abs(after - expected).max() <= 1.5 / 255  # the canvas shows PyTorch's image, in 8 bits
    root.locator(".vaelib-explorer-reset").click()
    assert np.abs(_canvas_image(root, (28, 28)) - before).max() == 0


def test_label_buttons_switch_the_digit(explorer_page, models):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(2)
    root.locator("button[data-label='7']").click()
    assert root.locator("button[data-label='7']").get_attribute("aria-pressed") == "true"
    assert root.locator("button[data-label='3']").get_attribute("aria-pressed") == "false"
    with torch.no_grad():
        expected = torch.sigmoid(models["cvae"].decode(torch.zeros(1, 8), torch.tensor([7])))[0, 0].numpy()
    assert np.abs(_canvas_image(root, (28, 28)) - expected).max() <= 1.5 / 255


def test_clicking_the_map_moves_to_that_code(explorer_page):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(1)
    box = root.locator(".vaelib-explorer-map").bounding_box()
    left, top, right, bottom = root.evaluate(
        "root => JSON.parse(root.querySelector('script.vaelib-explorer-data').textContent).plane_box")
    target = (1.0, -1.5)  # inside the extent (-2.5, 2.5)
    fx, fy = (target[0] + 2.5) / 5, (target[1] + 2.5) / 5
    page.mouse.click(box["x"] + box["width"] * (left + fx * (right - left)),
                     box["y"] + box["height"] * (bottom - fy * (bottom - top)))
    code = root.evaluate("root => root.vaelib.state.code")
    assert code == pytest.approx(list(target), abs=0.03)
    values = [float(v) for v in root.locator("input[type=range]").evaluate_all("els => els.map(e => e.value)")]
    assert values == pytest.approx(list(target), abs=0.03)


@pytest.mark.parametrize("path,count", BOOK_EXPLORERS.items())
def test_book_explorers_work_and_agree_with_pytorch(open_page, path, count):
    opened = open_page(path)
    page = opened.page
    page.wait_for_function(f"document.querySelectorAll('.vaelib-explorer[data-ready=\"1\"]').length === {count}",
                           timeout=15_000)
    explorers = page.locator(".vaelib-explorer")
    assert explorers.count() == count
    for i in range(count):
        root = explorers.nth(i)
        root.scroll_into_view_if_needed()
        # The chapter embedded PyTorch's image at the starting code; the page must draw the same.
        check = root.evaluate("""root => {
            const data = JSON.parse(root.querySelector('script.vaelib-explorer-data').textContent);
            const image = root.vaelib.decode(data.z0, data.label);
            let worst = 0;
            root.vaelib.reference.forEach((v, k) => { worst = Math.max(worst, Math.abs(v - image[k])); });
            return {worst, stated: data.reference_max_diff, shape: data.image_shape};
        }""")
        assert check["worst"] <= check["stated"] + 1e-5 and check["worst"] < 0.005, check
        before = _canvas_image(root, check["shape"])
        slider = root.locator("input[type=range]").first
        low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
        value = float(slider.input_value())
        slider.fill(str(high if value < (low + high) / 2 else low))  # to the far end of its range
        after = _canvas_image(root, check["shape"])
        assert np.abs(after - before).max() > 0.05, f"explorer {i} on {path}: the canvas did not change"
    assert opened.page_errors == [] and opened.console_errors == []


# --------------------------------------------------------------------------------------------
# The keyboard alone, and what a screen reader hears
# --------------------------------------------------------------------------------------------


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if page.evaluate("(sel) => document.activeElement && document.activeElement.matches(sel)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} never took the focus in {limit} presses of Tab")


def _status(root) -> str:
    return root.locator("[aria-live=polite]").inner_text()


def test_explorers_have_a_polite_live_region_and_visible_focus(explorer_page):
    page, _ = explorer_page
    explorers = page.locator(".vaelib-explorer")
    for i in range(explorers.count()):
        regions = explorers.nth(i).locator("[aria-live]")
        assert regions.count() == 1 and regions.get_attribute("aria-live") == "polite"
    page.locator("body").click(position={"x": 1, "y": 1})
    _tab_to(page, ".vaelib-explorer input[type=range]")
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}; }""")
    assert ring["style"] == "solid" and ring["width"] >= 2, f"no visible focus ring on a slider: {ring}"


def test_sliders_from_the_keyboard_announce_the_new_image(explorer_page, models):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(0)
    root.locator(".vaelib-explorer-reset").focus()
    page.keyboard.press("Enter")  # back to the starting code, from the keyboard
    before, said = _canvas_image(root, (28, 28)), _status(root)
    page.locator("body").click(position={"x": 1, "y": 1})
    _tab_to(page, ".vaelib-explorer input[type=range]")  # the first explorer's first slider, z1
    assert root.evaluate("root => root.contains(document.activeElement)")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(root.locator("[aria-live=polite]")).not_to_have_text(said)
    code = torch.tensor(root.evaluate("root => root.vaelib.state.code"), dtype=torch.float32)
    z1 = root.locator("input[data-dim='0']").input_value()
    assert f"z1 {float(z1):.2f}".replace("-", "\u2212") in _status(root) and "inked" in _status(root)
    after = _canvas_image(root, (28, 28))
    assert np.abs(after - before).max() > 0.01, "the arrow keys did not change the decoded image"
    with torch.no_grad():
        expected = torch.sigmoid(models["vae"].decode(code[None]))[0, 0].numpy()
    assert np.abs(after - expected).max() <= 1.5 / 255


def test_label_buttons_with_enter_and_space(explorer_page):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(2)
    root.locator("button[data-label='1']").focus()
    page.keyboard.press("Enter")
    expect(root.locator("[aria-live=polite]")).to_contain_text("digit 1")
    before = _canvas_image(root, (28, 28))
    page.keyboard.press("Tab")  # on to the 2
    page.keyboard.press("Space")
    expect(root.locator("[aria-live=polite]")).to_contain_text("digit 2")
    assert root.locator("button[data-label='2']").get_attribute("aria-pressed") == "true"
    assert np.abs(_canvas_image(root, (28, 28)) - before).max() > 0.01


def test_the_map_moves_its_point_with_the_arrow_keys(explorer_page, models):
    page, _ = explorer_page
    root = page.locator(".vaelib-explorer").nth(1)
    root.locator(".vaelib-explorer-reset").focus()
    page.keyboard.press("Space")
    page.locator("body").click(position={"x": 1, "y": 1})
    _tab_to(page, ".vaelib-explorer-map")
    assert page.evaluate("document.activeElement.getAttribute('role')") == "application"
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring == "solid", "the focused map shows no focus ring"
    start = root.evaluate("root => root.vaelib.state.code.slice()")
    marker = root.locator(".vaelib-explorer-marker").bounding_box()
    before, said = _canvas_image(root, (28, 28)), _status(root)
    step = float(root.locator("input[type=range]").first.get_attribute("step"))
    page.keyboard.press("Shift+ArrowRight")  # ten steps right
    page.keyboard.press("ArrowUp")           # one step up
    page.keyboard.press("ArrowUp")
    code = root.evaluate("root => root.vaelib.state.code")
    assert code == pytest.approx([start[0] + 10 * step, start[1] + 2 * step], abs=1e-6)
    moved = root.locator(".vaelib-explorer-marker").bounding_box()
    assert moved["x"] > marker["x"] and moved["y"] < marker["y"], "the marker did not follow the keys"
    values = [float(v) for v in root.locator("input[type=range]").evaluate_all("els => els.map(e => e.value)")]
    assert values == pytest.approx(code, abs=step / 2)
    expect(root.locator("[aria-live=polite]")).not_to_have_text(said)
    after = _canvas_image(root, (28, 28))
    assert np.abs(after - before).max() > 0.005, "the decoded image did not change"
    with torch.no_grad():
        expected = torch.sigmoid(models["plane"].decode(torch.tensor([code])))[0, 0].numpy()
    assert np.abs(after - expected).max() <= 1.5 / 255
    scroll = page.evaluate("window.scrollY")
    page.keyboard.press("Enter")  # decodes where the point is, like a click there
    page.keyboard.press("Home")   # back to the start
    assert root.evaluate("root => root.vaelib.state.code") == pytest.approx(start)
    assert page.evaluate("window.scrollY") == scroll, "the keys scrolled the page"


def test_book_plane_explorer_answers_the_arrow_keys(open_page):
    """Chapter 4's map in the built book: arrows move the point, the live region and image follow.
    (A book built from a stale execution cache fails here: its explorers predate the live region.)"""
    opened = open_page("chapters/04_vae.html")
    page = opened.page
    page.wait_for_function("document.querySelectorAll('.vaelib-explorer[data-ready=\"1\"]').length === 2",
                           timeout=15_000)
    root = page.locator(".vaelib-explorer[data-kind=plane]")
    live = root.locator("[aria-live=polite]")
    assert live.count() == 1
    shape = root.evaluate("root => JSON.parse(root.querySelector('script.vaelib-explorer-data').textContent).image_shape")
    root.locator(".vaelib-explorer-map").focus()
    before = _canvas_image(root, shape)
    start = root.evaluate("root => root.vaelib.state.code.slice()")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowDown")
    expect(live).to_contain_text("Decoded z1")
    code = root.evaluate("root => root.vaelib.state.code")
    assert code[0] < start[0] and code[1] < start[1]
    assert np.abs(_canvas_image(root, shape) - before).max() > 0.01
    assert opened.page_errors == [] and opened.console_errors == []
