"""One load of each page of the book per theme, shared by every test that only reads the page.

``visits(path, dark)`` (a session fixture, offered to every test module by conftest.py) loads a
page once, records what the checks need (errors, requests, formulas, images, layout, axe-core's
WCAG violations, the images' text alternatives, a screenshot, what clicking the folded solutions
does) and closes it: loading and typesetting a chapter is the slow part of the browser tests.
Tests that need to act on a page, not only read it, can do so on the same load (``on_shared_load``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .axe import AxeReport, run_axe
from .conftest import merge_into_report, new_page, screenshot_dir
from .pages import PAGES, shot_name

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


# Every <img> with its text alternative, and whether it shows the chapter's content (a cell's
# output, a figure) or is decorative: test_figure_alt.py judges the alternatives.
ALT_SCRIPT = """
() => Array.from(document.querySelectorAll("img")).map((img) => ({
  src: (img.getAttribute("src") || "").slice(0, 80),
  alt: img.getAttribute("alt"),
  decorative: img.getAttribute("role") === "presentation" || img.getAttribute("aria-hidden") === "true",
  content: Boolean(img.closest(".cell_output, .output, figure")),
  output: Boolean(img.closest(".cell_output, .output")),
}))
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
    alts: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    axe: list[dict] = field(default_factory=list)
    screenshot: Path | None = None
    solution_clicks: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # what each `on_shared_load` function returned

    def extra(self, name: str):
        """What the `on_shared_load` function ``name`` returned on this load; the error it raised,
        raised again here, so that it fails the test that asked for it."""
        if name not in self.extras:
            pytest.fail(f"{self.path}: nothing called {name!r} ran on its shared load (on_shared_load)")
        found = self.extras[name]
        if isinstance(found, BaseException):
            raise found
        return found


# Work that the tests of other modules do on a page's shared load, after its own checks (and, in
# the light theme, after the solutions are unfolded): name -> function(opened, path, dark). Each runs
# once per load; what it returns, or the error it raises, is kept in `Visit.extras`. A page costs
# 3-9 s to load and typeset: acting on this load saves one for each such test.
ON_SHARED_LOAD: dict[str, Callable] = {}


def on_shared_load(name: str) -> Callable[[Callable], Callable]:
    """Register ``function(opened, path, dark)`` to run on every shared load (see ON_SHARED_LOAD).
    It must leave the page's own checks alone: they have run by then."""
    def register(function: Callable) -> Callable:
        ON_SHARED_LOAD[name] = function
        return function
    return register


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
                visit.alts = opened.page.evaluate(ALT_SCRIPT)
                # the page's own errors end here: axe-core re-fetches stylesheets for one of its
                # rules (a 404 for a path it resolves against the site root), which is not the page's
                visit.console_errors, visit.page_errors = list(visit.console_errors), list(visit.page_errors)
                visit.axe = run_axe(opened.page, axe_source)
                axe_report.add(f"{path} ({'dark' if dark else 'light'})", visit.axe)
                name = shot_name(path) + ("-dark" if dark else "")
                visit.screenshot = opened.screenshot(name)
                if not dark:  # last, as it unfolds them: a reload for it alone cost 4-7 s a page
                    visit.solution_clicks = click_solutions(opened)
                for extra, work in ON_SHARED_LOAD.items():
                    try:
                        visit.extras[extra] = work(opened, path, dark)
                    except Exception as error:  # noqa: BLE001 - kept for the test that asks for it
                        visit.extras[extra] = error
        finally:
            context.close()
        return visit

    return _visit
