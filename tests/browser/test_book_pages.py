"""Every page of the built book, as a reader's browser sees it.

The pages come from _toc.yml (pages.py). Each page is loaded once in the light and once in the dark
theme for the whole session (visits.py); the tests check what those loads recorded.
"""

from __future__ import annotations

import re
import warnings

import pytest

from .axe import bullets, describe
from .pages import PAGE_PARAMS

# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_page_loads_without_errors(visits, path):
    """A JavaScript error breaks a page silently; only errors from blocked CDNs are allowed."""
    problems: list[str] = []
    for visit in (visits(path), visits(path, dark=True)):
        theme = "dark" if visit.dark else "light"
        problems += [f"({theme}) uncaught exception: {error}" for error in visit.page_errors]
        problems += [f"({theme}) console error: {error}" for error in visit.console_errors]
    assert not problems, (
        f"{path} has JavaScript errors (errors caused by the blocked external requests are "
        f"already left out):\n{bullets(problems)}"
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_axe_finds_no_wcag_violations(visits, path, theme):
    """WCAG 2.1 AA (and 2.2 AA) rules of axe-core on every page, in both themes (tests/browser/axe.py)."""
    violations = visits(path, dark=theme == "dark").axe
    assert not violations, (
        f"{path} ({theme} theme): axe-core finds {len(violations)} WCAG rules broken "
        f"(all pages: _build/screenshots/axe-report.txt):\n{describe(violations)}"
    )


STDERR_ERROR = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.M)


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_no_external_requests(visits, path):
    """The book works offline and from a USB stick: no page fetches anything from another host."""
    for visit in (visits(path), visits(path, dark=True)):
        theme = "dark" if visit.dark else "light"
        assert visit.external_urls == [], (
            f"{path} ({theme}) requested other hosts (see _build/screenshots/external-requests.txt):"
            f"\n{bullets(visit.external_urls)}"
        )


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_math_is_typeset(visits, path):
    """Every formula is typeset by the book's own MathJax, without errors, in both themes."""
    for visit in (visits(path), visits(path, dark=True)):
        theme = "dark" if visit.dark else "light"
        math = visit.math
        if not math["sources"]:
            continue
        assert math["mathjax"], f"{path} ({theme}) has {math['sources']} formulas but no MathJax"
        assert not math["errors"], (
            f"{path} ({theme}): formulas with errors (undefined macro?):\n{bullets(math['errors'])}"
        )
        assert not math["untypeset"], (
            f"{path} ({theme}): formulas left as TeX:\n{bullets(math['untypeset'])}"
        )
        assert not math["raw"], f"{path} ({theme}): raw TeX in the text:\n{bullets(math['raw'])}"
        assert math["typeset"] >= math["sources"], f"{path} ({theme}): {math}"


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_no_error_outputs(visits, path):
    """An executed cell must not show a traceback, error-like stderr or a failed check."""
    state = visits(path).state
    errors = [f"traceback: {t}" for t in state["tracebacks"]]
    errors += [f"stderr with an error: {t}" for t in state["stderr"] if STDERR_ERROR.search(t)]
    errors += [f"failed check: {t}" for t in state["failedChecks"]]
    harmless = [t for t in state["stderr"] if not STDERR_ERROR.search(t)]
    if harmless:
        # Warnings on stderr are untidy but not wrong; they are shown, not failed.
        warnings.warn(f"{path} shows stderr output:\n{bullets(harmless)}", stacklevel=1)
    assert not errors, (
        f"{path} shows error outputs (execution must not fail):\n{bullets(errors)}"
        + (f"\nOther stderr on the page:\n{bullets(harmless)}" if harmless else "")
    )


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_images_load(visits, path):
    """A missing figure file or a bad relative path shows up as a broken image."""
    images = visits(path).images
    broken = [img["src"] for img in images if not img["complete"] or img["naturalWidth"] <= 0]
    assert not broken, f"{path}: {len(broken)} of {len(images)} images did not load:\n" + bullets(
        broken
    )


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_solutions_folded_until_clicked(visits, path):
    """Readers should try an exercise before seeing its answer, yet the answer is one click away
    (the light load clicks each solution's toggle after its other checks: click_solutions)."""
    visit = visits(path)
    state, clicks = visit.state, visit.solution_clicks
    assert not state["unfoldableSolutions"], (
        f"{path}: solutions without a toggle (missing `:class: dropdown`?):\n"
        + bullets(state["unfoldableSolutions"])
    )
    assert clicks["count"] == state["solutions"], (
        f"{path}: {state['solutions']} solutions, {clicks['count']} of them folded with a toggle"
    )
    assert not clicks["problems"], f"{path}: folded solutions that misbehave:\n{bullets(clicks['problems'])}"
    assert not clicks["errors"], f"{path}: clicking solutions raised:\n" + bullets(clicks["errors"])


def _rgb(css: str) -> tuple[float, ...]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    return tuple(values[:3]) + ((values[3],) if len(values) > 3 else (1.0,))


def _luminance(css: str) -> float:
    red, green, blue, _ = _rgb(css)
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_dark_theme(visits, path):
    """In the dark theme the page turns dark, but figures keep their white, undimmed background."""
    state = visits(path, dark=True).state
    assert state["theme"] == "dark", f"{path}: data-theme is {state['theme']!r}, not 'dark'"
    assert _luminance(state["bodyColor"]) > 0.6, (
        f"{path}: body text is {state['bodyColor']} in the dark theme; expected a light colour"
    )
    assert _luminance(state["bodyBackground"]) < 0.2, (
        f"{path}: body background is {state['bodyBackground']} in the dark theme; expected dark"
    )
    wrong = [
        f"{img['src']}: background {img['background']}, filter {img['filter']}, "
        f"opacity {img['opacity']}"
        for img in state["outputImages"]
        if _rgb(img["background"]) != (255, 255, 255, 1.0)
        or img["filter"] != "none"
        or float(img["opacity"]) != 1.0
    ]
    assert not wrong, (
        f"{path}: {len(wrong)} of {len(state['outputImages'])} output images lose their opaque "
        "white background in the dark theme (book/_static/course.css must win over the theme's "
        f"`.bd-content div.cell_output img` rule):\n" + bullets(wrong)
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", PAGE_PARAMS)
def test_screenshots(visits, path):
    """Full-page screenshots in both themes, for reviewing the book without building it."""
    for visit in (visits(path), visits(path, dark=True)):
        shot = visit.screenshot
        assert shot is not None and shot.is_file(), f"{path}: no screenshot written ({shot})"
        data = shot.read_bytes()
        assert data.startswith(PNG_SIGNATURE), f"{shot} is not a PNG"
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        assert width == 1280 and height >= 900, f"{shot} is {width}x{height}, expected 1280 wide"


def test_what_a_test_does_on_the_shared_load_fails_only_that_test():
    """on_shared_load (visits.py): an error raised on a page's shared load is kept, and raised in the
    test that asks for that work's result, not in the page's own tests."""
    from .visits import Visit

    visit = Visit(path="chapters/02_elbo.html", dark=False, status=200, external_urls=[], console_errors=[],
                  page_errors=[], extras={"predict": AssertionError("ch2-naive-evidence: one question"), "ok": 3})
    assert visit.extra("ok") == 3
    with pytest.raises(AssertionError, match="one question"):
        visit.extra("predict")
    with pytest.raises(pytest.fail.Exception, match="nothing called 'other' ran on its shared load"):
        visit.extra("other")
