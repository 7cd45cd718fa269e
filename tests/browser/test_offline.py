"""The built book opened straight from disk (file://), as from a USB stick or an archive.

No server and no network (every request to another host is aborted, as in all browser tests):
the pages must still load their scripts and typeset their formulas with the MathJax copy in
_static, fonts included. Screenshots: _build/screenshots/file-<page>.png.
"""

from __future__ import annotations

import pytest

from .conftest import book_dir, new_page
from .pages import shot_name
from .visits import MATH_STATE_SCRIPT

# The chapters with the most mathematics (and IPython Math outputs).
PAGES = ["chapters/02_elbo.html", "chapters/03_reparameterization.html"]

FONTS_SCRIPT = """
() => Array.from(document.fonts).filter((font) => font.family.includes("MJX"))
  .map((font) => ({ family: font.family, status: font.status }))
"""


@pytest.mark.parametrize("path", PAGES)
def test_book_from_disk_typesets_math_offline(browser, path):
    if not (book_dir() / path).is_file():
        pytest.fail(f"No built page {book_dir() / path}: build the book first (make book)")
    opened, context = new_page(browser, book_dir().as_uri() + "/", path)
    try:
        math = opened.page.evaluate(MATH_STATE_SCRIPT)
        opened.page.evaluate("document.fonts.ready.then(() => true)")
        fonts = opened.page.evaluate(FONTS_SCRIPT)
        shot = opened.screenshot("file-" + shot_name(path))
        assert opened.external_urls == [], f"{path} from disk requested: {opened.external_urls}"
        assert math["mathjax"] and math["sources"] > 20, math
        assert not math["errors"] and not math["untypeset"] and not math["raw"], math
        assert not opened.console_errors and not opened.page_errors, (
            opened.console_errors + opened.page_errors
        )
        loaded = [font for font in fonts if font["status"] == "loaded"]
        failed = [font for font in fonts if font["status"] == "error"]
        assert loaded and not failed, f"MathJax fonts from disk: {fonts}"
        assert shot.is_file()
    finally:
        context.close()
