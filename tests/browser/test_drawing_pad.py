"""The drawing pad in a real browser: a stroke drawn with the mouse (and with a finger), checked
number by number against PyTorch.

The first tests put a pad over freshly built models into a page of their own, so the page's
numbers can be compared with the full-precision models; the last ones draw a 3 in chapter 4 of the
built book (served, then from disk) and compare with PyTorch running the weights the page loaded.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from vaelib.drawing_pad import DrawingPad, page_elbo, preprocess_strokes
from vaelib.models import VAE
from vaelib.page_assets import externalize_weights
from vaelib.web_explorer import (
    DecoderExport,
    EncoderExport,
    PageLinear,
)

from .conftest import book_dir, is_external, new_page, screenshot_dir

# One xdist worker runs this file: its tests share one page (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("drawing_pad")

# A 3 in two strokes, as fractions of the pad (x to the right, y down).
THREE = [[(0.30, 0.20), (0.42, 0.14), (0.56, 0.13), (0.68, 0.22), (0.64, 0.38), (0.46, 0.48)],
         [(0.46, 0.48), (0.66, 0.56), (0.72, 0.74), (0.56, 0.88), (0.30, 0.84)]]
CHAPTER = "chapters/04_vae.html"

STATE = "root => ({strokes: root.vaelib.state.strokes, code: root.vaelib.state.code, last: root.vaelib.state.last})"


def _draw(page, root, strokes, steps: int = 4) -> dict:
    """Draw the strokes on the pad with the mouse; return the pad's state after the last one."""
    pad = root.locator("canvas.vaelib-draw-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()

    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for p in stroke[1:]:
            page.mouse.move(*at(p), steps=steps)
        page.mouse.up()
    return root.evaluate(STATE)


def _check_strokes_follow_the_path(recorded, strokes):
    """Every scripted vertex was recorded (to a pixel of the pad), one stroke per mouse stroke."""
    assert len(recorded) == len(strokes)
    for got, want in zip(recorded, strokes, strict=True):
        got = np.array(got)
        for p in want:
            assert np.min(np.abs(got - np.array(p)).max(axis=1)) < 0.01, (p, got[:3])


def _check_preprocessing(state):
    image = np.array(state["last"]["image"]).reshape(28, 28)
    reference = preprocess_strokes(state["strokes"])[0].numpy()
    assert np.abs(image - reference).max() < 1 / 255, "the page's image differs from the Python reference"
    binary = np.array(state["last"]["binary"]).reshape(28, 28)
    assert np.array_equal(binary, (reference >= 0.5).astype(float))
    return torch.from_numpy(binary).float().unsqueeze(0)  # (1, 28, 28)


def _marker_check(root, mu, data):
    """The ring's centre on the map is where the page's map_box puts mu (to 1.5 CSS pixels)."""
    geometry = root.evaluate("""root => {
        const map = root.querySelector('.vaelib-draw-map').getBoundingClientRect();
        const r = (e) => e.getBoundingClientRect();
        const m = r(root.querySelector('.vaelib-draw-map .vaelib-explorer-marker'));
        const e = r(root.querySelector('.vaelib-draw-ellipse'));
        return {map: [map.x, map.y, map.width, map.height], marker: [m.x + m.width / 2, m.y + m.height / 2],
                ellipse: [e.x + e.width / 2, e.y + e.height / 2, e.width, e.height]};
    }""")
    x, y, width, height = geometry["map"]
    left, top, right, bottom = data["map_box"]
    lo, hi = data["range"]
    fx, fy = ((float(m) - lo) / (hi - lo) for m in mu)
    assert 0 <= fx <= 1 and 0 <= fy <= 1, f"mu {mu} is off the map"
    expected = (x + width * (left + fx * (right - left)), y + height * (bottom - fy * (bottom - top)))
    assert geometry["marker"] == pytest.approx(expected, abs=1.5)
    assert geometry["ellipse"][:2] == pytest.approx(expected, abs=1.5)
    return geometry


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {"plane": VAE(2), "latent": VAE(20)}  # the chapter's sizes


@pytest.fixture(scope="module")
def pad(models):
    codes, labels = torch.randn(300, 2, generator=torch.Generator().manual_seed(1)), torch.arange(300) % 10
    return DrawingPad(models["plane"], models["latent"], plane_codes=codes, plane_labels=labels,
                      dims=[0, 4, 9], reference_images=torch.rand(20, 1, 28, 28))


@pytest.fixture(scope="module")
def pad_page(browser, pad, tmp_path_factory):
    path = tmp_path_factory.mktemp("drawing") / "pad.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{pad.html}</body></html>",
                    encoding="utf-8")
    opened, context = new_page(browser, path.parent.as_uri() + "/", path.name)
    opened.page.wait_for_function("document.querySelector('.vaelib-draw').dataset.ready === '1'")
    yield opened
    context.close()


def _data(root) -> dict:
    return root.evaluate("root => JSON.parse(root.querySelector('script.vaelib-explorer-data').textContent)")


def test_a_drawn_digit_matches_pytorch_number_by_number(pad_page, pad, models):
    page = pad_page.page
    root = page.locator(".vaelib-draw")
    state = _draw(page, root, THREE)
    _check_strokes_follow_the_path(state["strokes"], THREE)
    binary = _check_preprocessing(state)
    results = state["last"]["results"]
    for name, model in models.items():
        with torch.no_grad():
            mu, _ = model.encode(binary[None])
        assert np.abs(np.array(results[name]["mu"]) - mu[0].numpy()).max() < 1e-3, name
        full = pad.score_image(binary, name)  # full precision, the page's fixed draws
        for term in ("elbo", "reconstruction", "kl"):
            assert results[name][term] == pytest.approx(full[term], abs=0.05), (name, term)
    # The printed line carries the same numbers.
    texts = root.locator(".vaelib-draw-score").all_inner_texts()
    assert f"{abs(results['latent']['elbo']):.1f} nats" in texts[1] and "KL" in texts[1]
    assert "on average" in texts[0]  # the reference images' ELBO, for comparison
    # The ring sits at mu on the map, the ellipse's axes are 2 sigma.
    geometry = _marker_check(root, results["plane"]["mu"], _data(root))
    data = _data(root)
    left, top, right, bottom = data["map_box"]
    lo, hi = data["range"]
    sigma = np.exp(0.5 * np.array(results["plane"]["logvar"]))
    width, height = geometry["map"][2:]
    assert geometry["ellipse"][2] == pytest.approx(max(4, 2 * sigma[0] / (hi - lo) * (right - left) * width), abs=1.5)
    assert geometry["ellipse"][3] == pytest.approx(max(4, 2 * sigma[1] / (hi - lo) * (bottom - top) * height), abs=1.5)
    assert pad_page.external_urls == [] and pad_page.console_errors == [] and pad_page.page_errors == []


def test_sliders_jump_to_mu_and_edit_the_drawn_digit(pad_page, models):
    page = pad_page.page
    root = page.locator(".vaelib-draw")
    state = _draw(page, root, [[(0.5, 0.15), (0.5, 0.85)]])  # a 1, on top of the 3
    mu = state["last"]["results"]["latent"]["mu"]
    assert state["code"] == pytest.approx(mu, abs=1e-9)
    section = root.locator('.vaelib-draw-model[data-model="latent"]')
    values = [float(v) for v in section.locator("input[type=range]").evaluate_all("els => els.map(e => e.value)")]
    assert values == pytest.approx([mu[0], mu[4], mu[9]], abs=0.026)  # the sliders' step is 0.05

    def shown():
        canvas = section.locator("canvas.vaelib-draw-reconstruction").evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
        rgba = np.array(canvas, dtype=float).reshape(168, 168, 4)
        return rgba[3::6, 3::6, 0] / 255

    def pytorch(code):
        with torch.no_grad():
            return torch.sigmoid(models["latent"].decode(torch.tensor([code], dtype=torch.float32)))[0, 0].numpy()

    assert np.abs(shown() - pytorch(mu)).max() <= 1.5 / 255  # the reconstruction at mu
    section.locator("input[type=range]").nth(1).fill("2.5")  # z5
    code = root.evaluate("root => root.vaelib.state.code")
    assert code[4] == 2.5 and code[:4] == pytest.approx(mu[:4]) and code[5:] == pytest.approx(mu[5:])
    assert np.abs(shown() - pytorch(code)).max() <= 1.5 / 255  # the reader's digit, edited
    section.locator(".vaelib-draw-to-mu").click()
    assert root.evaluate("root => root.vaelib.state.code") == pytest.approx(mu)
    root.locator(".vaelib-draw-clear").click()
    cleared = root.evaluate(STATE)
    assert cleared["strokes"] == [] and cleared["last"]["results"] == {} and max(cleared["last"]["image"]) == 0
    assert root.locator(".vaelib-draw-map .vaelib-explorer-marker").is_hidden()
    assert "Draw a digit" in root.locator(".vaelib-draw-score").first.inner_text()


def test_a_finger_draws_too(browser, pad, tmp_path):
    """Touch input (Chromium's own touch events through the DevTools protocol) draws a stroke,
    and the page does not scroll under the finger."""
    path = tmp_path / "touch.html"
    path.write_text(f"<!doctype html><html><body style='height:3000px'>{pad.html}</body></html>", encoding="utf-8")
    context = browser.new_context(viewport={"width": 900, "height": 700}, has_touch=True, is_mobile=True)
    external = []
    context.route("**/*", lambda route: (external.append(route.request.url), route.abort())
                  if is_external(route.request.url) else route.continue_())
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("document.querySelector('.vaelib-draw').dataset.ready === '1'")
        root = page.locator(".vaelib-draw")
        box = root.locator("canvas.vaelib-draw-pad").bounding_box()
        scroll = page.evaluate("window.scrollY")
        cdp = context.new_cdp_session(page)
        points = [(0.3, 0.3), (0.5, 0.4), (0.7, 0.5), (0.5, 0.7), (0.3, 0.8)]
        for i, (fx, fy) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
                {"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"]}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        state = root.evaluate(STATE)
        _check_strokes_follow_the_path(state["strokes"], [points])
        _check_preprocessing(state)
        assert set(state["last"]["results"]) == {"plane", "latent"}
        assert page.evaluate("window.scrollY") == scroll
        assert external == []
    finally:
        context.close()


def test_weights_in_a_file_next_to_the_page_load_from_disk(browser, pad, tmp_path):
    """As in the book: the weights moved into _static/vaelib-weights/*.js, the page opened from file://."""
    folder = tmp_path / "_static" / "vaelib-weights"
    folder.mkdir(parents=True)

    def write(key, text):
        (folder / f"{key}.js").write_text(text, encoding="ascii")
        return f"_static/vaelib-weights/{key}.js"

    body = externalize_weights(pad.html, write)
    assert 'class="vaelib-weights"' not in body and len(list(folder.iterdir())) == 4
    (tmp_path / "page.html").write_text(f"<!doctype html><html><body>{body}</body></html>", encoding="utf-8")
    opened, context = new_page(browser, tmp_path.as_uri() + "/", "page.html")
    try:
        opened.page.wait_for_function("document.querySelector('.vaelib-draw').dataset.ready === '1'")
        state = _draw(opened.page, opened.page.locator(".vaelib-draw"), THREE)
        _check_preprocessing(state)
        full = pad.score_image(torch.tensor(state["last"]["binary"]).reshape(1, 28, 28), "latent")
        assert state["last"]["results"]["latent"]["elbo"] == pytest.approx(full["elbo"], abs=0.05)
        assert opened.external_urls == [] and opened.console_errors == [] and opened.page_errors == []
    finally:
        context.close()


def _page_networks(root) -> dict:
    """The encoders and decoders the book's page runs, rebuilt in PyTorch from the bytes it loaded."""
    data = _data(root)
    blobs = root.evaluate("""(root, keys) => keys.map((k) => {
        const inline = document.querySelector(`script.vaelib-weights[data-key="${k}"]`);
        return inline ? inline.textContent : window.vaelibWeights[k];
    })""", [m[n]["key"] for m in data["models"].values() for n in ("encoder", "decoder")])
    nets, blobs = {}, iter(blobs)

    def layers(spec, blob):
        raw = base64.b64decode(blob.strip())
        out = []
        for layer in spec["layers"]:
            rows, cols = layer["rows"], layer["cols"]
            weight = np.frombuffer(raw, dtype="<f2", count=rows * cols, offset=layer["w"]).reshape(rows, cols)
            bias = np.frombuffer(raw, dtype="<f4", count=rows, offset=layer["b"])
            out.append(PageLinear(weight16=weight.astype(np.float16), bias=bias.astype(np.float32)))
        return out

    for name, m in data["models"].items():
        encoder = EncoderExport(layers(m["encoder"], next(blobs)), m["latent_dim"], (1, 28, 28))
        decoder = DecoderExport(layers(m["decoder"], next(blobs)), m["latent_dim"], 0, (1, 28, 28))
        eps = torch.from_numpy(np.frombuffer(base64.b64decode(m["eps"]), dtype="<f4").reshape(m["samples"], -1).copy())
        nets[name] = (encoder, decoder, eps)
    return nets


def _check_book_pad(page, root):
    state = _draw(page, root, THREE)
    _check_strokes_follow_the_path(state["strokes"], THREE)
    binary = _check_preprocessing(state)
    nets = _page_networks(root)
    assert set(nets) == {"plane", "latent"}
    for name, (encoder, decoder, eps) in nets.items():
        expected = page_elbo(encoder.encode, decoder.logits, binary, eps)
        got = state["last"]["results"][name]
        assert np.abs(np.array(got["mu"]) - expected["mu"].numpy()).max() < 1e-3, name
        assert got["elbo"] == pytest.approx(expected["elbo"], abs=0.05), name
        assert got["kl"] == pytest.approx(expected["kl"], abs=0.05), name
    _marker_check(root, state["last"]["results"]["plane"]["mu"], _data(root))
    return state


def test_drawing_a_three_in_the_book(open_page):
    opened = open_page(CHAPTER)
    page = opened.page
    page.wait_for_function("document.querySelectorAll('.vaelib-draw[data-ready=\"1\"]').length === 1", timeout=15_000)
    # The weights come from files next to the page, not from the HTML itself.
    assert page.locator("script.vaelib-weights").count() == 0
    sources = page.locator("script[data-vaelib-weights]").evaluate_all("els => els.map(e => e.getAttribute('src'))")
    assert sources and all(re.fullmatch(r"\.\./_static/vaelib-weights/[0-9a-f]{16}\.js", s) for s in sources), sources
    root = page.locator(".vaelib-draw")
    state = _check_book_pad(page, root)
    # The theme's sticky headers would cover part of an element screenshot.
    page.evaluate("""() => document.querySelectorAll('body *').forEach((e) => {
        if (['sticky', 'fixed'].includes(getComputedStyle(e).position)) e.style.visibility = 'hidden';
    })""")
    # The pad from its top left corner, cut from the whole page (an element screenshot of a block
    # taller than the window came out shifted).
    box = root.evaluate("""el => { const r = el.getBoundingClientRect();
        return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; }""")
    page.screenshot(path=str(screenshot_dir() / "drawing-pad-three.png"), full_page=True, clip=box)
    (screenshot_dir() / "drawing-pad-three.json").write_text(json.dumps(
        {name: {k: r[k] for k in ("mu", "logvar", "elbo", "reconstruction", "kl")}
         for name, r in state["last"]["results"].items()}, indent=1), encoding="utf-8")
    assert opened.external_urls == [] and opened.console_errors == [] and opened.page_errors == []


def test_drawing_in_the_book_from_disk(browser):
    if not (book_dir() / CHAPTER).is_file():
        pytest.fail(f"No built page {book_dir() / CHAPTER}: build the book first (make book)")
    opened, context = new_page(browser, book_dir().as_uri() + "/", CHAPTER)
    try:
        opened.page.wait_for_function("document.querySelectorAll('.vaelib-draw[data-ready=\"1\"]').length === 1",
                                      timeout=15_000)
        _check_book_pad(opened.page, opened.page.locator(".vaelib-draw"))
        assert opened.external_urls == [] and opened.console_errors == [] and opened.page_errors == []
    finally:
        context.close()


def _tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("(sel) => document.activeElement && document.activeElement.matches(sel)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} never took the focus in {limit} presses of Tab")


def _pixels(root, selector: str) -> np.ndarray:
    data = root.locator(selector).evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
    return np.array(data, dtype=float)


def test_a_test_digit_from_the_keyboard_is_scored_and_announced(pad_page, pad):
    """No pointer at all: Tab to the test-digit select, pick with the arrow keys, then the 'next'
    button with Space; each digit goes through the drawing's pipeline and the live region says its
    ELBO and terms."""
    page = pad_page.page
    root = page.locator(".vaelib-draw")
    root.locator(".vaelib-draw-clear").click()
    live = root.locator("[aria-live]")
    assert live.count() == 1 and live.get_attribute("aria-live") == "polite"
    said, recon = live.inner_text(), _pixels(root, ".vaelib-draw-model[data-model=plane] canvas")
    page.locator("body").click(position={"x": 1, "y": 1})
    _tab_to(page, "select.vaelib-draw-digit")
    page.keyboard.press("ArrowDown")  # the first test digit
    expect(live).to_contain_text("Test digit 1 of 10 scored")
    state = root.evaluate(STATE)
    assert state["strokes"] == []
    image = pad.test_images[0].float() / 255  # (1, 28, 28)
    assert np.abs(np.array(state["last"]["image"]).reshape(1, 28, 28) - image.numpy()).max() < 1e-6
    binary = (image >= 0.5).float()
    assert np.array_equal(np.array(state["last"]["binary"]).reshape(1, 28, 28), binary.numpy())
    for name in ("plane", "latent"):
        full = pad.score_image(binary, name)
        got = state["last"]["results"][name]
        for term in ("elbo", "reconstruction", "kl"):
            assert got[term] == pytest.approx(full[term], abs=0.05), (name, term)
    text = live.inner_text()
    assert text != said
    results = state["last"]["results"]
    for name in ("plane", "latent"):
        assert f"ELBO {results[name]['elbo']:.1f}".replace("-", "\u2212") in text, text
        assert f"KL {results[name]['kl']:.1f}" in text and "reconstruction" in text, text
    first = _pixels(root, ".vaelib-draw-model[data-model=plane] canvas")
    assert np.abs(first - recon).max() > 0, "the decoded digit did not change"
    _tab_to(page, ".vaelib-draw-next")
    page.keyboard.press("Space")
    expect(live).to_contain_text("Test digit 2 of 10 scored")
    assert root.evaluate("root => root.vaelib.state.testDigit") == 1
    assert root.locator("select.vaelib-draw-digit").input_value() == "1"
    assert np.abs(_pixels(root, ".vaelib-draw-model[data-model=plane] canvas") - first).max() > 0
    page.keyboard.press("Enter")  # a button answers Enter too
    expect(live).to_contain_text("Test digit 3 of 10 scored")
    # Drawing over a test digit starts a new drawing.
    state = _draw(page, root, [[(0.5, 0.15), (0.5, 0.85)]])
    assert root.evaluate("root => root.vaelib.state.testDigit") is None and len(state["strokes"]) == 1
    expect(live).to_contain_text("Your drawing scored")
    assert pad_page.console_errors == [] and pad_page.page_errors == []


def test_latent_sliders_of_the_pad_announce_the_change(pad_page):
    page = pad_page.page
    root = page.locator(".vaelib-draw")
    root.locator("select.vaelib-draw-digit").select_option("4")
    live = root.locator("[aria-live]")
    expect(live).to_contain_text("Test digit 5 of 10")
    section = root.locator('.vaelib-draw-model[data-model="latent"]')
    before = _pixels(section, "canvas.vaelib-draw-reconstruction")
    section.locator("input[type=range]").first.focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    expect(live).to_contain_text("latent z1 set to")
    assert np.abs(_pixels(section, "canvas.vaelib-draw-reconstruction") - before).max() > 0
    section.locator(".vaelib-draw-to-mu").focus()
    page.keyboard.press("Enter")
    expect(live).to_contain_text("Back at")
