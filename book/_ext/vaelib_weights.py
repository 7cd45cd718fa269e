"""Move the weights of the book's kernel-free explorers out of the pages into script files.

A chapter's explorers and drawing pad carry their networks as base64 blocks in the cell output
(vaelib/page_assets.py), so a notebook output works on its own. In the book each block becomes a
``<script src>`` of ``_static/vaelib-weights/<key>.js``, named by a hash of the weights: the page's
HTML stays small, a decoder used by two blocks is loaded once, and a classic script works from
``file://`` as well as from a server.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = "_static/vaelib-weights"


def _externalize(app, pagename, templatename, context, doctree):
    body = context.get("body") or ""
    if "vaelib-weights" not in body:
        return
    from vaelib.page_assets import externalize_weights

    folder = Path(app.outdir) / FOLDER

    def write(key: str, text: str) -> str:
        path = folder / f"{key}.js"
        if not path.is_file():  # the name is a hash of the content
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="ascii")
        return context["pathto"](f"{FOLDER}/{key}.js", 1)

    context["body"] = externalize_weights(body, write)


def setup(app):
    app.connect("html-page-context", _externalize)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
