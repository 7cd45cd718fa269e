"""Accessibility of the built book: WCAG 2.1 AA as far as a machine can check it.

- axe-core (pinned, fetched by ``conftest.axe_script``; ``tests/browser/axe.py``) on every page of
  the table of contents, in the light and the dark theme, with the WCAG 2.0/2.1 A and AA rules and
  the 2.2 AA ones: ``test_book_pages.test_axe_finds_no_wcag_violations``, on the same load of each
  page as the other checks of that module. A page passes with no violation at all; the report names
  each rule, its impact and the first elements that break it, and goes to
  ``_build/screenshots/axe-report.txt`` as well.
- Reflow (WCAG 1.4.10): every page at 320 CSS pixels wide needs no horizontal scrolling; a code
  cell, an output or a wide formula may scroll inside its own box.
- Formulas: every formula MathJax typesets carries its MathML for screen readers
  (``mjx-assistive-mml``).

What axe cannot judge (a figure's description, the sense of a live region's words) is the
business of the explorers' keyboard tests and of the figures' own tests.
"""

from __future__ import annotations

import pytest
import yaml

from .axe import SAME_COLOURS, WAIT_FOR_MATH, bullets, run_axe
from .conftest import REPO_ROOT, new_page, screenshot_dir
from .pages import PAGES

# --------------------------------------------------------------------------------------------
# Colour contrast of code, one token of each style measured
# --------------------------------------------------------------------------------------------

CODE_PAGE = """<!doctype html><html lang="en"><head><title>Code</title><style>
  div.highlight pre { background: #ffffff; color: #000000; overflow-x: auto; width: 30em; }
  .n { color: #b0b0b0; }  /* 2.1:1 on white: too pale */
  .o { color: #000000; }
  div.highlight.dark pre { background: #202020; } .dark .n, .dark .o { color: #e0e0e0; }
</style></head><body><main>
  <div class="highlight"><pre>{light}</pre></div>
  <div class="highlight dark"><pre>{dark}</pre></div>
</main></body></html>"""


def test_colour_contrast_of_repeated_code_tokens_is_still_checked(browser, axe_source):
    """run_axe measures one code token of each style: a pale style fails with every token it
    stands for counted, the same colour on a dark block passes, and the page keeps no marks."""
    # words, not single letters: axe leaves text that short undecided ("too short")
    line = '<span class="n">total</span> <span class="o">plus</span> <span class="n">value</span>\n'
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(CODE_PAGE.replace("{light}", line * 40).replace("{dark}", line * 40))
        found = run_axe(page, axe_source)
        left = page.evaluate(f"document.querySelectorAll('[{SAME_COLOURS}]').length")
    finally:
        context.close()
    contrast = [v for v in found if v["id"] == "color-contrast"]
    assert len(contrast) == 1 and [v["id"] for v in found] == ["color-contrast"], found
    assert len(contrast[0]["nodes"]) == 1 and contrast[0]["count"] == 80, contrast
    assert left == 0


# --------------------------------------------------------------------------------------------
# Reflow at 320 CSS pixels
# --------------------------------------------------------------------------------------------

NARROW = {"width": 320, "height": 640}

# Elements that stick out of the window on the right, leaving out those inside a box that fits the
# window and scrolls (or clips) horizontally on its own: a code cell, an output, a display formula.
OVERFLOW_SCRIPT = """
() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible" && p.getBoundingClientRect().right <= width + 1) {
        return true;
      }
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className.trim()
       ? "." + el.className.trim().split(/\\s+/).slice(0, 2).join(".") : "");
  const wide = [];
  document.querySelectorAll("body *").forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 1) return;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.position === "fixed") return;
    if (clipped(el)) return;
    wide.push(`${name(el)} reaches ${Math.round(box.right)} px`);
  });
  return {
    width, scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth, wide: wide.slice(0, 8),
  };
}
"""


@pytest.mark.parametrize("path", PAGES)
def test_page_reflows_at_320_css_pixels(browser, book_server, path):
    """WCAG 1.4.10: at 320 px nothing is cut off and the page never scrolls sideways."""
    opened, context = new_page(browser, book_server, path, viewport=NARROW)
    try:
        page = opened.page
        page.evaluate(WAIT_FOR_MATH)
        state = page.evaluate(OVERFLOW_SCRIPT)
        if path == "chapters/04_vae.html":
            page.screenshot(path=str(screenshot_dir() / "narrow-chapters-04_vae.png"), full_page=False)
    finally:
        context.close()
    assert state["scrollWidth"] <= state["width"] + 1 and not state["wide"], (
        f"{path} at 320 CSS px: the page is {state['scrollWidth']} px wide, so it scrolls sideways; "
        f"elements that stick out:\n{bullets(state['wide'])}"
    )


# --------------------------------------------------------------------------------------------
# Formulas for screen readers
# --------------------------------------------------------------------------------------------

MATHML_SCRIPT = """
async () => {
  await MathJax.startup.promise;
  const containers = Array.from(document.querySelectorAll("mjx-container"));
  return {
    formulas: containers.length,
    missing: containers.filter((c) => !c.querySelector("mjx-assistive-mml math"))
      .map((c) => (c.closest(".math") || c).textContent.slice(0, 80)),
    hiddenVisual: containers.filter((c) => {
      const visual = c.querySelector(":scope > mjx-math");
      return !visual || visual.getAttribute("aria-hidden") !== "true";
    }).length,
  };
}
"""


def test_every_formula_carries_mathml(open_page):
    """Chapter 2's formulas are read out from MathML: MathJax's assistive copy of each one."""
    opened = open_page("chapters/02_elbo.html")
    state = opened.page.evaluate(MATHML_SCRIPT)
    assert state["formulas"] > 20, state
    assert not state["missing"], (
        f"{len(state['missing'])} of {state['formulas']} formulas have no assistive MathML "
        f"(mjx-assistive-mml > math):\n{bullets(state['missing'][:5])}"
    )
    # The visual rendering is hidden from screen readers, so each formula is read once.
    assert state["hiddenVisual"] == 0, state


# --------------------------------------------------------------------------------------------
# The accessibility statement
# --------------------------------------------------------------------------------------------


def test_statement_is_in_the_book_and_points_at_the_issue_tracker():
    """Barriers are reported where the book's own "open an issue" button leads."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    issues = config["repository"]["url"].rstrip("/") + "/issues"
    assert "book/accessibility.html" in PAGES, "book/accessibility.md is not in _toc.yml"
    statement = (REPO_ROOT / "book" / "accessibility.md").read_text(encoding="utf-8")
    assert f"]({issues})" in statement, f"the statement must link the issue tracker, {issues}"
    assert "WCAG 2.1" in statement and "AA" in statement


# --------------------------------------------------------------------------------------------
# Reduced motion
# --------------------------------------------------------------------------------------------

MOTION_SCRIPT = """
() => {
  const seconds = (list) => Math.max(...list.split(",").map((t) => parseFloat(t) * (t.trim().endsWith("ms") ? 0.001 : 1)));
  const moving = [];
  document.querySelectorAll("*").forEach((el) => {
    const s = getComputedStyle(el);
    const hasAnimation = s.animationName !== "none" && seconds(s.animationDuration) > 0.001;
    // a transition of any length, 0.01 ms too, starts on each style change (course.css)
    if (seconds(s.transitionDuration) > 0 || hasAnimation) moving.push(el.tagName.toLowerCase() + "." + el.className);
  });
  return { scroll: getComputedStyle(document.documentElement).scrollBehavior, moving: moving.slice(0, 8) };
}
"""


def test_nothing_moves_when_the_reader_asks_for_reduced_motion(browser, book_server):
    """The theme's transitions (sidebars, folded solutions) and smooth scrolling stop."""
    opened, context = new_page(browser, book_server, "chapters/04_vae.html", reduced_motion=True)
    try:
        state = opened.page.evaluate(MOTION_SCRIPT)
    finally:
        context.close()
    assert state["scroll"] == "auto" and not state["moving"], state
