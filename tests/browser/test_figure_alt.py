"""Every image on every chapter page has a text alternative that says something (WCAG 2.1, 1.1.1).

A screen reader reads an image's alt text in its place. Before the figures were described, the
book's images had their file path as alt text (myst-nb's default), which a reader hears as a string
of letters and digits. This opens every chapter page of the built book and checks each <img>: an
alt attribute that is not empty, not a file name or path, and not only generic words ("figure",
"plot", "image"); an image of the chapter's content (a cell's output, a figure, an explorer's
figure) must also be a real description, of at least four words (a logo's "Binder logo" is fine).
"""

from __future__ import annotations

import re

import pytest

from .conftest import book_dir
from .pages import PAGES

CHAPTER_PAGES = [page for page in PAGES if page.startswith("chapters/")]

GENERIC = {
    "a", "an", "the", "figure", "fig", "plot", "image", "img", "picture", "chart", "graph",
    "diagram", "output", "result", "png", "alt", "text", "description", "untitled", "todo",
    "placeholder", "of", "this", "no",
}
FILE_NAME = re.compile(r"^\S*[\\/]\S*$|^\S+\.(png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)

IMAGES_SCRIPT = """
() => Array.from(document.querySelectorAll("img")).map((img) => ({
  src: (img.getAttribute("src") || "").slice(0, 80),
  alt: img.getAttribute("alt"),
  decorative: img.getAttribute("role") === "presentation" || img.getAttribute("aria-hidden") === "true",
  content: Boolean(img.closest(".cell_output, .output, figure")),
  output: Boolean(img.closest(".cell_output, .output")),
}))
"""


def alt_problem(alt: str | None, *, content: bool) -> str | None:
    """What is wrong with an image's alt text, or None when it is a real description."""
    if alt is None:
        return "no alt attribute"
    text = " ".join(alt.split())
    if not text:
        return "an empty alt"
    if FILE_NAME.match(text):
        return f"a file name as alt: {text!r}"
    words = re.findall(r"[^\W_]+", text.lower())
    if all(word in GENERIC or word.isdigit() for word in words):
        return f"a generic alt: {text!r}"
    if content and len(words) < 4:
        return f"an alt too short to describe a figure: {text!r}"
    return None


def test_alt_rules_tell_descriptions_from_placeholders():
    assert alt_problem("../_images/4f1c2b7a0e9d3c8b5a6f.png", content=True)
    assert alt_problem("_images/abc.png", content=False)
    assert alt_problem("", content=True) and alt_problem(None, content=False)
    assert alt_problem("Figure", content=False) and alt_problem("an image", content=True)
    assert alt_problem("Training curves", content=True)
    assert alt_problem("Project logo", content=False) is None
    assert alt_problem("12 test digits and their reconstructions: blurred but recognisable.",
                       content=True) is None


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_every_image_of_a_chapter_has_a_meaningful_alt(open_page, path):
    if not (book_dir() / path).is_file():
        pytest.fail(f"No built page {book_dir() / path}: build the book first (make book)")
    opened = open_page(path)
    images = opened.page.evaluate(IMAGES_SCRIPT)
    bad = [f"{image['src']}: {problem}" for image in images if not image["decorative"]
           for problem in [alt_problem(image["alt"], content=image["content"])] if problem]
    assert not bad, f"{path}: images without a meaningful alt text:\n" + "\n".join(bad)
    assert any(image["output"] for image in images), (
        f"{path}: no image among the cell outputs, but every chapter draws figures: did it run?")
