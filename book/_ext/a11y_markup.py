"""Markup that assistive technology needs and docutils' HTML writer does not give.

docutils writes a list of citations (the bibliography) as ``<div role="list">`` whose entries have
``role="doc-biblioentry"``. DPUB-ARIA 1.1 deprecated that role, and a list whose children are not
list items is a broken list to a screen reader (axe-core: ``aria-deprecated-role``, and the
critical ``aria-required-children``). Each entry becomes a ``listitem``, so the bibliography reads
as a list of its 52 entries.
"""

from __future__ import annotations

import re

_BIBLIOENTRY = re.compile(r'(<div class="citation"[^>]*?) role="doc-biblioentry"')


def _fix_roles(app, pagename, templatename, context, doctree):
    body = context.get("body") or ""
    if "doc-biblioentry" in body:
        context["body"] = _BIBLIOENTRY.sub(r'\1 role="listitem"', body)


def setup(app):
    app.connect("html-page-context", _fix_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
