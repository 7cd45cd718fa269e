"""The pages of the built book, from _toc.yml: a chapter added to the book is tested without
editing any test."""

from __future__ import annotations

import re

import pytest
import yaml

from .conftest import REPO_ROOT

TOC = REPO_ROOT / "_toc.yml"
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst", ".myst")


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


def page_params(pages) -> list:
    """Each page as a test parameter in the page's xdist group: every test of one page runs on one
    xdist worker (`make browser`: --dist loadgroup), which loads the page once per theme; the pages
    are shared out among the workers."""
    return [pytest.param(page, marks=pytest.mark.xdist_group(f"page:{page}")) for page in pages]


PAGES = toc_pages()
PAGE_PARAMS = page_params(PAGES)


def shot_name(path: str) -> str:
    """'chapters/04_vae.html' -> 'chapters-04_vae': one flat folder of screenshots."""
    return path.removesuffix(".html").replace("/", "-")
