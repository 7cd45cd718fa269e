"""Every image on every chapter page has a text alternative that says something (WCAG 2.1, 1.1.1).

A screen reader reads an image's alt text in its place. Before the figures were described, the
book's images had their file path as alt text (myst-nb's default), which a reader hears as a string
of letters and digits. On the shared load of every chapter page of the built book (visits.py),
this checks each <img>: an alt attribute that is not empty, not a file name or path, and not only
generic words ("figure", "plot", "image"); an image of the chapter's content (a cell's output, a
figure, an explorer's figure) must also be a real description, of at least four words (a logo's
"Binder logo" is fine).
"""

from __future__ import annotations

import re

import pytest

from .pages import PAGE_PARAMS

# on the xdist worker that loads the page for its other tests (pages.py)
CHAPTER_PAGES = [param for param in PAGE_PARAMS if param.values[0].startswith("chapters/")]

GENERIC = {
    "a", "an", "the", "figure", "fig", "plot", "image", "img", "picture", "chart", "graph",
    "diagram", "output", "result", "png", "alt", "text", "description", "untitled", "todo",
    "placeholder", "of", "this", "no",
}
FILE_NAME = re.compile(r"^\S*[\\/]\S*$|^\S+\.(png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)


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
def test_every_image_of_a_chapter_has_a_meaningful_alt(visits, path):
    images = visits(path).alts  # read on the page's shared light load (visits.py)
    bad = [f"{image['src']}: {problem}" for image in images if not image["decorative"]
           for problem in [alt_problem(image["alt"], content=image["content"])] if problem]
    assert not bad, f"{path}: images without a meaningful alt text:\n" + "\n".join(bad)
    assert any(image["output"] for image in images), (
        f"{path}: no image among the cell outputs, but every chapter draws figures: did it run?")
