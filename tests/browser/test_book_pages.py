"""Every page of the built book, as a reader's browser sees it.

The pages come from _toc.yml, so a chapter added to the book is tested without editing this file.
Each page is loaded once in the light and once in the dark theme (cached for the session); the
tests then check what those loads recorded, and the solution test clicks on a fresh copy.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .axe import AxeReport, bullets, describe, run_axe
from .conftest import REPO_ROOT, merge_into_report, new_page, screenshot_dir

TOC = REPO_ROOT / "_toc.yml"
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst", ".myst")


# --------------------------------------------------------------------------------------------
# The pages of the book
# --------------------------------------------------------------------------------------------


def _toc_files(entry: object) -> list[str]:
    """The `file:` (and `glob:`) entries of a _toc.yml node, in reading order."""
    found: list[str] = []
    if isinstance(entry, list):
        for item in entry:
            found += _toc_files(item)
    elif isinstance(entry, dict):
        if "file" in entry:
            found.append(str(entry["file"]))
        if "glob" in entry:
            for source in sorted(REPO_ROOT.glob(str(entry["glob"]))):
                if source.suffix in SOURCE_SUFFIXES:
                    found.append(source.relative_to(REPO_ROOT).with_suffix("").as_posix())
        for key in ("parts", "chapters", "sections"):
            found += _toc_files(entry.get(key))
    return found


def toc_pages() -> list[str]:
    """HTML paths of every page in the table of contents, root first, without duplicates."""
    toc = yaml.safe_load(TOC.read_text())
    files = [str(toc["root"]), *_toc_files(toc)]
    pages: list[str] = []
    for name in files:
        stem = re.sub(r"\.(md|ipynb|rst|myst)$", "", name.strip("/"))
        if f"{stem}.html" not in pages:
            pages.append(f"{stem}.html")
    return pages


PAGES = toc_pages()
# Every test of one page runs on one xdist worker (`make browser`: --dist loadgroup), which loads
# the page once per theme; the pages are shared out among the workers.
PAGE_PARAMS = [pytest.param(page, marks=pytest.mark.xdist_group(f"page:{page}")) for page in PAGES]


def shot_name(path: str) -> str:
    """'chapters/04_vae.html' -> 'chapters-04_vae': one flat folder of screenshots."""
    return path.removesuffix(".html").replace("/", "-")


# --------------------------------------------------------------------------------------------
# One load per page and theme, shared by the tests
# --------------------------------------------------------------------------------------------

# myst-nb renders an exception as `div.output.traceback` and stderr as `div.output.stderr`
# (myst_nb/core/render.py); vaelib.checks renders a failed check as `.vaelib-check` "not yet".
PAGE_STATE_SCRIPT = """
() => {
  const text = (el) => el.innerText.trim().slice(0, 500);
  const style = (el) => getComputedStyle(el);
  return {
    theme: document.documentElement.dataset.theme || "",
    bodyColor: getComputedStyle(document.body).color,
    bodyBackground: getComputedStyle(document.body).backgroundColor,
    tracebacks: Array.from(document.querySelectorAll(".output.traceback")).map(text),
    stderr: Array.from(document.querySelectorAll(".output.stderr")).map(text),
    failedChecks: Array.from(document.querySelectorAll(".vaelib-check"))
      .map(text).filter((t) => /not yet/i.test(t)),
    unfoldableSolutions: Array.from(document.querySelectorAll(".solution.admonition"))
      .filter((el) => !el.classList.contains("toggle")).map((el) => el.id),
    solutions: document.querySelectorAll(".solution.admonition").length,
    outputImages: Array.from(document.querySelectorAll(".cell_output img")).map((img) => ({
      src: img.getAttribute("src") || "",
      background: style(img).backgroundColor,
      filter: style(img).filter,
      opacity: style(img).opacity,
    })),
  };
}
"""


# MathJax (book/_static/mathjax) typesets after the load event: wait for its first pass, then
# report every formula whose MathML holds an error (an undefined macro is red text, a parse error
# an <merror>), every `.math` element left without typeset output, and raw TeX delimiters left
# in the page's text outside code.
MATH_STATE_SCRIPT = r"""
async () => {
  const sources = Array.from(document.querySelectorAll(".math"));
  const state = { sources: sources.length, mathjax: Boolean(window.MathJax && MathJax.startup),
                  typeset: 0, errors: [], untypeset: [], raw: [] };
  if (!state.mathjax) return state;
  await MathJax.startup.promise;
  const items = Array.from(MathJax.startup.document.math);
  state.typeset = document.querySelectorAll("mjx-container").length;
  state.errors = items.filter((item) => /<merror|mathcolor="red"/.test(MathJax.startup.toMML(item.root)))
    .map((item) => item.math.slice(0, 120));
  state.untypeset = sources.filter((el) => !el.querySelector("mjx-container"))
    .map((el) => el.textContent.trim().slice(0, 120));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("pre, code, script, style, mjx-container, .highlight")) continue;
    if (/\\\(|\\\[|\$\$/.test(node.textContent)) state.raw.push(node.textContent.trim().slice(0, 120));
  }
  return state;
}
"""


def click_solutions(opened) -> dict:
    """Open every folded solution of a loaded page with its toggle button, as a reader would.

    Returns the number of solutions and, per solution, what went wrong: no body after its title,
    no toggle button, a body visible before the click, a body still hidden after it, the button's
    aria-expanded not "true"; and the uncaught exceptions the clicks raised."""
    page = opened.page
    solutions = page.locator("div.solution.admonition.dropdown")
    errors_before = len(opened.page_errors)  # load errors are test_page_loads' business
    problems: list[str] = []
    for index in range(solutions.count()):
        solution = solutions.nth(index)
        name = solution.get_attribute("id") or f"solution {index + 1}"
        body = solution.locator(":scope > .admonition-title ~ *")
        button = solution.locator(":scope > .admonition-title button.toggle-button")
        if body.count() == 0:
            problems.append(f"{name} has no body after its title")
            continue
        if button.count() != 1:
            problems.append(f"{name} has no toggle button (togglebutton.js?)")
            continue
        if any(body.nth(part).is_visible() for part in range(body.count())):
            problems.append(f"{name} is visible before any click")
        try:  # a failed click is this check's finding, not a failed load of the page
            button.click()
        except Exception as err:  # noqa: BLE001 - Playwright's errors, reported as the finding
            problems.append(f"{name}: its button could not be clicked ({type(err).__name__})")
            continue
        try:  # the theme unfolds with a short transition
            for part in range(body.count()):
                body.nth(part).wait_for(state="visible", timeout=5_000)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError, reported as the finding
            problems.append(f"{name} did not open on click")
        expanded = button.get_attribute("aria-expanded")
        if expanded != "true":
            problems.append(f"{name}: its button says aria-expanded={expanded!r}")
    return {"count": solutions.count(), "problems": problems,
            "errors": list(opened.page_errors[errors_before:])}


@dataclass
class Visit:
    """What one load of a page recorded; the browser context is closed afterwards."""

    path: str
    dark: bool
    status: int | None
    external_urls: list[str]
    console_errors: list[str]
    page_errors: list[str]
    images: list[dict] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    math: dict = field(default_factory=dict)
    axe: list[dict] = field(default_factory=list)
    screenshot: Path | None = None
    solution_clicks: dict = field(default_factory=dict)


class ExternalRequestLog:
    """Blocked external URLs per page, rewritten to external-requests.txt after every load
    (merged with the pages the other xdist workers loaded)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.urls: dict[str, set[str]] = {}

    def add(self, page: str, urls: list[str], status: int | None) -> None:
        self.urls.setdefault(page, set()).update(urls)
        if status != 200:
            self.urls[page].add(f"(page not loaded: HTTP {status})")
        merged = merge_into_report("external-requests.json", page, sorted(self.urls[page]))
        lines = [
            "# External requests the book's pages made, blocked by the browser tests "
            "(the pages were served from 127.0.0.1; light and dark loads together).",
        ]
        for name in sorted(merged, key=lambda p: PAGES.index(p) if p in PAGES else len(PAGES)):
            lines.append(name)
            lines += [f"    {url}" for url in merged[name]] or ["    (none)"]
        self.target.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def external_log() -> ExternalRequestLog:
    """One list for the session, so the project's note can quote what each page fetches."""
    return ExternalRequestLog(screenshot_dir() / "external-requests.txt")


@pytest.fixture(scope="session")
def axe_report() -> AxeReport:
    return AxeReport()


@pytest.fixture(scope="session")
def visits(browser, book_server, external_log, axe_source, axe_report):
    """`visits(path, dark)`: load a page once per theme for the whole session and remember it.

    One load serves every check that only reads the page: errors, requests, formulas, images,
    layout, axe-core's WCAG rules and the screenshot (loading and typesetting a chapter is the
    slow part of these tests)."""
    cache: dict[tuple[str, bool], Visit | Exception] = {}

    def _visit(path: str, dark: bool = False) -> Visit:
        failed = cache.get((path, dark))
        if isinstance(failed, Exception):  # one slow failure, not one per test of the page
            pytest.fail(f"loading {path} ({'dark' if dark else 'light'}) failed in an earlier test: "
                        f"{type(failed).__name__}: {failed}")
        if (path, dark) not in cache:
            try:
                visit = _load(path, dark)
            except Exception as error:
                cache[(path, dark)] = error
                raise
            external_log.add(path, visit.external_urls, visit.status)
            cache[(path, dark)] = visit
        visit = cache[(path, dark)]
        if visit.status != 200:
            pytest.fail(
                f"{path} answered HTTP {visit.status}: it is in _toc.yml but not in the built book"
                " (rebuild it: make book)"
            )
        return visit

    def _load(path: str, dark: bool) -> Visit:
        opened, context = new_page(browser, book_server, path, dark=dark)
        try:
            visit = Visit(
                path=path,
                dark=dark,
                status=opened.response_status,
                external_urls=opened.external_urls,
                console_errors=opened.console_errors,
                page_errors=opened.page_errors,
            )
            if visit.status == 200:
                visit.math = opened.page.evaluate(MATH_STATE_SCRIPT)  # before the screenshot
                visit.images = opened.load_images()
                visit.state = opened.page.evaluate(PAGE_STATE_SCRIPT)
                # the page's own errors end here: axe-core re-fetches stylesheets for one of its
                # rules (a 404 for a path it resolves against the site root), which is not the page's
                visit.console_errors, visit.page_errors = list(visit.console_errors), list(visit.page_errors)
                visit.axe = run_axe(opened.page, axe_source)
                axe_report.add(f"{path} ({'dark' if dark else 'light'})", visit.axe)
                name = shot_name(path) + ("-dark" if dark else "")
                visit.screenshot = opened.screenshot(name)
                if not dark:  # last, as it unfolds them: a reload for it alone cost 4-7 s a page
                    visit.solution_clicks = click_solutions(opened)
        finally:
            context.close()
        return visit

    return _visit


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
