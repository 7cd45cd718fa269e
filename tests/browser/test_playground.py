"""The playground page (book/playground.md) in headless Chromium: its VAE against PyTorch's, the
collapse it must show, its speed, and its controls from the keyboard.

The page computes in float64 (Float64Array) and so does vaelib.playground, with the same random
generator: the same seed gives the same weights, batches and noise in both, so the numbers can be
compared directly.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from playwright.sync_api import expect

from vaelib.playground import (
    PARAM_NAMES,
    Mulberry32,
    Playground,
    PlaygroundSettings,
    init_params,
    loss_and_grads,
    sample_data,
)

from .axe import describe, run_axe
from .conftest import book_dir, new_page, screenshot_dir

# One xdist worker runs this file: its tests share one page (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("playground")

PAGE = "book/playground.html"
ROOT = ".vae-playground"

# Steps per second the page must reach in headless Chromium on a 2-core machine, training with
# batches of 256 while it redraws the plots (the floor).
MIN_STEPS_PER_SECOND = 100

# 500 steps of training, page against PyTorch: both are float64 and make the same operations in
# the same order where it matters, but their tanh, exp, log and cos may differ in the last bit and
# some sums run in another order (about 1e-16 relative per operation). Adam divides by the root of
# the second moment, which could let such differences grow over the steps; measured here, the
# curves agree to about 2e-15 relative after 500 steps. 1e-9 leaves six orders of magnitude for
# another CPU's or browser's maths library, while any real difference in the algorithm (a changed
# constant, a missed term, a batch drawn differently) moves the loss by far more within a step.
CURVE_RTOL = 1e-9


def _settings_js(s: PlaygroundSettings) -> dict:
    """The page's names for a PlaygroundSettings."""
    return {"dataset": s.dataset, "latent": s.latent_dim, "beta": s.beta, "sigma": s.sigma, "lr": s.lr,
            "warmup": s.warmup, "warmupSteps": s.warmup_steps, "freeBits": s.free_bits > 0,
            "lambda": s.free_bits if s.free_bits > 0 else 0.25, "seed": s.seed, "batch": s.batch,
            "hidden": s.hidden}


def _flat(params: dict[str, torch.Tensor]) -> list[float]:
    """Parameters in the page's order: per layer its weights (row-major), then its biases."""
    return torch.cat([params[f"{n}.{p}"].reshape(-1) for n in PARAM_NAMES for p in ("W", "b")]).tolist()


def _worst_relative(a, b, floor: float) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs() / b.abs().clamp(min=floor)).max().item()


@pytest.fixture(scope="module")
def playground(browser, book_server):
    """The built page, served; module-scoped because each load parses the whole book page."""
    if not (book_dir() / PAGE).is_file():
        pytest.fail(f"No built {PAGE} in {book_dir()}: build the book first (make book)")
    opened, context = new_page(browser, book_server, PAGE)
    opened.page.wait_for_selector(f"{ROOT}[data-ready='1']")
    yield opened
    context.close()


def test_page_starts_without_errors_or_outside_requests(playground):
    assert playground.external_urls == [], playground.external_urls
    assert playground.console_errors == [] and playground.page_errors == [], (
        playground.console_errors + playground.page_errors)


def test_page_works_from_disk(browser):
    """Opened as a file (no server), the script still loads and trains."""
    opened, context = new_page(browser, book_dir().as_uri() + "/", PAGE)
    try:
        page = opened.page
        page.wait_for_selector(f"{ROOT}[data-ready='1']")
        page.locator(".vae-pg-step").click()
        expect(page.locator(".vae-pg-status")).to_contain_text("Step 1:")
        assert opened.external_urls == [] and not opened.console_errors and not opened.page_errors
    finally:
        context.close()


# --------------------------------------------------------------------------------------------
# The page's arithmetic against PyTorch's
# --------------------------------------------------------------------------------------------


def test_random_draws_weights_and_data_match_python(playground):
    page = playground.page
    js = page.evaluate("""() => {
        const r = new vaePlayground.Rng(12345), u = [], n = [];
        for (let i = 0; i < 200; i++) u.push(r.uniform());
        for (let i = 0; i < 200; i++) n.push(r.normal());
        const data = {};
        for (const d of ["eight", "moons", "ring"]) data[d] = Array.from(vaePlayground.sampleData(new vaePlayground.Rng(7), d, 300));
        const weights = [1, 2].map((D) => Array.from(new vaePlayground.Model(D, 32).init(new vaePlayground.Rng(3)).theta));
        return {u, n, data, weights};
    }""")
    rng = Mulberry32(12345)
    assert js["u"] == [rng.uniform() for _ in range(200)]  # integer arithmetic: exactly equal
    assert _worst_relative(js["n"], rng.normals(200), 1e-12) < 1e-13
    for dataset, points in js["data"].items():
        expected = sample_data(Mulberry32(7), dataset, 300).reshape(-1)
        assert (torch.tensor(points, dtype=torch.float64) - expected).abs().max() < 1e-12, dataset
    for latent_dim, theta in zip((1, 2), js["weights"], strict=True):
        expected = _flat(init_params(Mulberry32(3), latent_dim, 32))
        assert len(theta) == len(expected)
        assert (torch.tensor(theta) - torch.tensor(expected)).abs().max() < 1e-12


CASES = {
    "default": PlaygroundSettings(),
    "moons-1d-beta4": PlaygroundSettings(dataset="moons", latent_dim=1, beta=4.0, sigma=0.7),
    "ring-warmup-freebits": PlaygroundSettings(dataset="ring", beta=30.0, warmup=True, free_bits=0.25, seed=9),
}

LOSS_AND_GRADS = """([s, theta, x, eps, step]) => {
    const model = new vaePlayground.Model(s.latent, s.hidden);
    model.theta.set(theta);
    const ws = new vaePlayground.Workspace(model, s.batch);
    const terms = vaePlayground.lossAndGrads(model, s, Float64Array.from(x), Float64Array.from(eps), step, ws);
    return {terms, grad: Array.from(ws.grad)};
}"""


@pytest.mark.parametrize("name", CASES)
def test_loss_and_every_gradient_match_pytorch(playground, name):
    """The same weights (after 30 steps of training, so they are not the initial ones) and the same
    batch in both: the loss, its terms and every one of the gradient's entries agree."""
    settings = CASES[name]
    reference = Playground(settings)
    reference.run(30)
    x, eps = reference.next_batch()
    step = 400  # mid-warm-up where warm-up is on
    terms, grads = loss_and_grads(reference.params, x, eps, settings, step)
    js = playground.page.evaluate(LOSS_AND_GRADS, [_settings_js(settings), _flat(reference.params),
                                                   x.reshape(-1).tolist(), eps.reshape(-1).tolist(), step])
    expected = torch.tensor(_flat(grads), dtype=torch.float64)
    got = torch.tensor(js["grad"], dtype=torch.float64)
    assert got.shape == expected.shape
    # Relative to each entry, with a floor of 1e-6 of the largest entry (an entry near 0 has no
    # meaningful relative error).
    floor = 1e-6 * expected.abs().max().item()
    worst_grad = _worst_relative(got, expected, floor)
    worst_terms = max(_worst_relative(js["terms"][k], terms[k], 1e-12) for k in ("loss", "rate", "distortion"))
    print(f"\n{name}: loss {terms['loss']:.6f} (page {js['terms']['loss']:.6f}); worst relative difference: "
          f"loss terms {worst_terms:.1e}, gradient ({got.numel()} entries) {worst_grad:.1e}")
    assert worst_terms < 1e-5 and worst_grad < 1e-5
    assert js["terms"]["klPerDim"] == pytest.approx(terms["kl_per_dim"], rel=1e-5)


@pytest.mark.parametrize("name", ["default", "ring-warmup-freebits"])
def test_500_seeded_steps_give_pytorchs_loss_curve(playground, name):
    settings = CASES[name]
    start = time.perf_counter()
    python = [t["loss"] for t in Playground(settings).run(500)]
    python_s = time.perf_counter() - start
    js = playground.page.evaluate("""(s) => {
        const t = new vaePlayground.Trainer(s), start = performance.now();
        for (let i = 0; i < 500; i++) t.train();
        return {loss: t.history.loss, ms: performance.now() - start};
    }""", _settings_js(settings))
    worst = _worst_relative(js["loss"], python, 1e-9)
    print(f"\n{name}: 500 steps, loss {python[0]:.4f} -> {python[-1]:.4f}; worst relative difference "
          f"{worst:.1e} (page {js['ms'] / 1000:.2f} s, PyTorch {python_s:.2f} s)")
    assert len(js["loss"]) == 500
    assert python[-1] < python[0]  # it trained
    assert worst < CURVE_RTOL


# --------------------------------------------------------------------------------------------
# What the reader must see: collapse, and no collapse
# --------------------------------------------------------------------------------------------


def _open(browser, book_server, fragment: str):
    opened, context = new_page(browser, book_server, PAGE + fragment)
    opened.page.wait_for_selector(f"{ROOT}[data-ready='1']")
    return opened, context


def _shoot(page, name: str) -> None:
    """The playground's box from a full-page screenshot (an element screenshot scrolls it under the
    theme's sticky header)."""
    box = page.evaluate(f"""() => {{ const r = document.querySelector('{ROOT}').getBoundingClientRect();
        return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}}; }}""")
    page.screenshot(path=str(screenshot_dir() / name), full_page=True, clip=box)


def _train_to(page, steps: int) -> dict:
    """Play for a moment (the page's own loop), then train the page's run to exactly `steps` steps
    (the run is deterministic, so the count of active dims at a given step is too) and redraw."""
    page.locator(".vae-pg-play").click()
    page.wait_for_function(f"document.querySelector('{ROOT}').playground.state.trainer.step >= 50")
    page.locator(".vae-pg-play").click()  # pause
    return page.evaluate(f"""(steps) => {{
        const pg = document.querySelector('{ROOT}').playground, t = pg.state.trainer;
        while (t.step < steps) t.train();
        pg.redraw();
        return {{step: t.step, active: pg.state.stats.enc.active, rate: t.last.rate,
                 variance: pg.state.stats.enc.variance}};
    }}""", steps)


@pytest.mark.parametrize("fragment,expected_active", [
    ("#beta=30&sigma=0.3&freebits=0", 0),              # collapse
    ("#beta=30&sigma=0.3&freebits=1&lambda=0.25", 2),  # free bits hold both dims open
    ("#beta=1&sigma=0.3&freebits=0", 2),               # the ELBO: a healthy run
])
def test_collapse_shows_at_large_beta_and_free_bits_prevent_it(browser, book_server, fragment, expected_active):
    opened, context = _open(browser, book_server, fragment)
    try:
        page = opened.page
        early = page.evaluate(f"document.querySelector('{ROOT}').playground.state.stats.enc.active")
        state = _train_to(page, 2000)
        readout = page.locator(".vae-pg-readout").inner_text()
        print(f"\n{fragment}: {readout}")
        assert state["active"] == expected_active, state
        assert f"{expected_active} of 2 latent dims active" in readout
        if expected_active == 0:
            assert early == 2, "the run should start with both dims active, and lose them"
            assert state["rate"] < 0.05
        page.locator(".vae-pg-step").click()
        expect(page.locator(".vae-pg-status")).to_contain_text("Step 2001:")
        name = {0: "collapsed", 2: "healthy"}[expected_active] + ("-freebits" if "freebits=1" in fragment else "")
        _shoot(page, f"playground-{name}.png")
        assert not opened.console_errors and not opened.page_errors
    finally:
        context.close()


def test_collapse_shows_in_one_latent_dim_too(browser, book_server):
    opened, context = _open(browser, book_server, "#latent=1&beta=30&sigma=0.3")
    try:
        assert _train_to(opened.page, 2000)["active"] == 0
        assert "0 of 1 latent dims active" in opened.page.locator(".vae-pg-readout").inner_text()
    finally:
        context.close()


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


def test_trains_at_least_100_steps_per_second_while_drawing(browser, book_server):
    opened, context = _open(browser, book_server, "#data=eight&latent=2")
    try:
        page = opened.page
        assert page.evaluate(f"document.querySelector('{ROOT}').playground.state.trainer.settings.batch") == 256
        page.evaluate(f"""() => {{ window.redraws = 0;
            document.querySelector('{ROOT}').addEventListener('vae-playground-drawn', () => window.redraws++); }}""")
        page.locator(".vae-pg-play").click()
        page.wait_for_timeout(500)  # past the first frames
        begin = page.evaluate(f"[document.querySelector('{ROOT}').playground.state.trainer.step, performance.now(), window.redraws]")
        page.wait_for_timeout(5000)
        end = page.evaluate(f"[document.querySelector('{ROOT}').playground.state.trainer.step, performance.now(), window.redraws]")
        page.locator(".vae-pg-play").click()
        seconds = (end[1] - begin[1]) / 1000
        rate, redraws = (end[0] - begin[0]) / seconds, (end[2] - begin[2]) / seconds
        print(f"\nplayground: {rate:.0f} steps/s with batch 256 while redrawing {redraws:.1f} times/s "
              f"(headless Chromium, {seconds:.1f} s)")
        assert redraws >= 5, "the plots did not keep redrawing while training"
        assert rate >= MIN_STEPS_PER_SECOND, f"{rate:.0f} steps/s, below the floor of {MIN_STEPS_PER_SECOND}"
    finally:
        context.close()


# --------------------------------------------------------------------------------------------
# The URL hash
# --------------------------------------------------------------------------------------------


def test_the_hash_sets_the_controls_and_hides_the_unlisted_ones(browser, book_server):
    fragment = "#data=moons&latent=1&beta=4&sigma=0.5&warmup=1&freebits=1&lambda=0.1&lr=0.01&seed=42&controls=beta,play"
    opened, context = _open(browser, book_server, fragment)
    try:
        page = opened.page
        settings = page.evaluate(f"document.querySelector('{ROOT}').playground.state.trainer.settings")
        assert {k: settings[k] for k in ("dataset", "latent", "beta", "sigma", "warmup", "freeBits", "lambda", "lr", "seed")} == {
            "dataset": "moons", "latent": 1, "beta": 4, "sigma": 0.5, "warmup": True, "freeBits": True,
            "lambda": 0.1, "lr": 0.01, "seed": 42}
        visible = page.evaluate(f"""Array.from(document.querySelectorAll('{ROOT} .vae-pg-group'))
            .filter((g) => !g.hidden).map((g) => g.dataset.control)""")
        assert visible == ["beta", "play"]
        assert page.locator(f"{ROOT} select").first.is_hidden()
        slider = float(page.locator(f"{ROOT} input[id$='-beta']").input_value())
        assert slider == pytest.approx(math.log10(4), abs=0.03)  # the log-scale slider, snapped to its step
        assert page.locator(f"{ROOT} output").first.inner_text() == "β = 4"
        # A change writes the whole experiment back into the address, the lesson's controls kept.
        page.locator(f"{ROOT} input[id$='-beta']").focus()
        page.keyboard.press("ArrowRight")
        hash_ = page.evaluate("location.hash")
        assert "data=moons" in hash_ and "latent=1" in hash_ and "seed=42" in hash_ and "controls=beta,play" in hash_
        beta = float(dict(p.split("=") for p in hash_[1:].split("&"))["beta"])
        assert 4 < beta < 5
        # The link shows every control again.
        page.locator(".vae-pg-hidden-note a").click()
        assert page.locator(f"{ROOT} .vae-pg-group[hidden]").count() == 0
        assert "controls=" not in page.evaluate("location.hash")
    finally:
        context.close()


def test_same_link_same_run(browser, book_server):
    """Two readers who open the same link see the same numbers."""
    runs = []
    for _ in range(2):
        opened, context = _open(browser, book_server, "#data=ring&beta=2&seed=77")
        try:
            runs.append(opened.page.evaluate(f"""() => {{
                const t = document.querySelector('{ROOT}').playground.state.trainer;
                for (let i = 0; i < 20; i++) t.train();
                return t.history.loss; }}"""))
        finally:
            context.close()
    assert runs[0] == runs[1]


# --------------------------------------------------------------------------------------------
# Keyboard, labels, live region
# --------------------------------------------------------------------------------------------


def test_every_control_has_a_label(playground):
    unnamed = playground.page.evaluate(f"""() => Array.from(document.querySelectorAll(
        '{ROOT} input, {ROOT} select, {ROOT} button')).filter((el) => {{
            const label = el.labels && Array.from(el.labels).map((l) => l.textContent.trim()).join(" ");
            return !(label || el.getAttribute("aria-label") || (el.tagName === "BUTTON" && el.textContent.trim()));
        }}).map((el) => el.outerHTML.slice(0, 80))""")
    assert unnamed == []
    regions = playground.page.locator(f"{ROOT} [aria-live]")
    assert regions.count() == 1 and regions.get_attribute("aria-live") == "polite"
    assert regions.get_attribute("role") == "status"
    for canvas in playground.page.locator(f"{ROOT} canvas").all():
        assert canvas.get_attribute("role") == "img" and canvas.get_attribute("aria-label")


def test_the_keyboard_alone_trains_and_the_live_region_says_so(browser, book_server):
    opened, context = _open(browser, book_server, "")
    try:
        page = opened.page
        status = page.locator(".vae-pg-status")
        assert status.inner_text() == ""  # nothing is announced before the reader acts
        page.locator("body").click(position={"x": 1, "y": 1})
        for _ in range(80):  # Tab to the Step button, as a keyboard user would
            if page.evaluate("document.activeElement && document.activeElement.classList.contains('vae-pg-step')"):
                break
            page.keyboard.press("Tab")
        else:
            pytest.fail("the Step button never took the focus")
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert ring == "solid", "no visible focus ring on the Step button"
        page.keyboard.press("Enter")
        page.keyboard.press("Space")
        expect(status).to_contain_text("Step 2:")
        said = status.inner_text()
        assert "rate" in said and "distortion" in said and "latent dims active" in said
        # Shift+Tab back to Play; Space starts training, Space again pauses and the status says where it stopped.
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.classList.contains('vae-pg-play')")
        page.keyboard.press("Space")
        expect(status).to_have_text("Training.")
        page.wait_for_function(f"document.querySelector('{ROOT}').playground.state.trainer.step > 100")
        page.keyboard.press("Space")
        expect(status).to_contain_text("Paused. Step")
        # A slider from the keyboard: β's arrow keys change β, and the status says it applies.
        page.locator(f"{ROOT} input[id$='-beta']").focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate(f"document.querySelector('{ROOT}').playground.state.trainer.settings.beta") > 1
        expect(status).to_contain_text("β set to 1.12; from the next step on.")
        assert page.locator(f"{ROOT} input[id$='-beta']").get_attribute("aria-valuetext").startswith("β = 1.1")
        assert not opened.console_errors and not opened.page_errors
    finally:
        context.close()


def test_axe_after_training_and_with_hidden_controls(browser, book_server, axe_source):
    """The page's own axe test runs it as loaded; here after a few steps and in a lesson's view."""
    for fragment in ("", "#beta=30&controls=beta,play"):
        opened, context = _open(browser, book_server, fragment)
        try:
            opened.page.locator(".vae-pg-step").click()
            violations = run_axe(opened.page, axe_source)
        finally:
            context.close()
        assert not violations, f"{PAGE}{fragment}:\n{describe(violations)}"


def test_reduced_motion_redraws_once_a_second(browser, book_server):
    opened, context = new_page(browser, book_server, PAGE, reduced_motion=True)
    try:
        page = opened.page
        page.wait_for_selector(f"{ROOT}[data-ready='1']")
        page.evaluate(f"""() => {{ window.redraws = 0;
            document.querySelector('{ROOT}').addEventListener('vae-playground-drawn', () => window.redraws++); }}""")
        page.locator(".vae-pg-play").click()
        page.wait_for_timeout(3500)
        page.locator(".vae-pg-play").click()
        redraws = page.evaluate("window.redraws")
        assert 2 <= redraws <= 6, f"{redraws} redraws in 3.5 s of training (and one on pause)"
    finally:
        context.close()
