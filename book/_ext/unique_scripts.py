"""Drop repeated <script> entries from each page of the book.

Sphinx 7 lists an inline script that an extension registers once the builder exists (sphinx-thebe's
configuration, sphinx-togglebutton's selector) twice on every page. Twice is harmless for ``var``
but a SyntaxError for sphinx-thebe's ``const`` declarations, which the browser reports on every
page. Scripts are compared by file name and attributes (an inline script's text is its ``body``
attribute, its file name "" in one copy and None in the other); the first of each is kept.
"""

from __future__ import annotations


def _unique_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "",  # an inline script's is "" or None
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: the builder restores its own list before the next page


def setup(app):
    # Early: html-page-context stops at the first handler that returns a template name, and the
    # repeated scripts are there from the start (later handlers add page-specific ones only).
    app.connect("html-page-context", _unique_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
