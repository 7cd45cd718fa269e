"""The pieces every kernel-free page block is made of: its weights, data, controls and script.

:mod:`vaelib.web_explorer` (the latent explorers) and :mod:`vaelib.drawing_pad` both write a block
of HTML that carries its networks as float16 weights and runs ``web_explorer.js`` on them in the
reader's browser. The format of those blocks lives here, once, so the two cannot drift apart and
the book's Sphinx extension (``book/_ext/vaelib_weights.py``) reads what both write.

Weights travel as one base64 block per network, keyed by a hash of its bytes. In a notebook they
stay in the output, so the block works alone; the book moves each into a script file next to the
page (:func:`externalize_weights`), which keeps the chapters' HTML small, loads a network shared
by two blocks once, and works from ``file://``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import uuid
from collections.abc import Callable, Sequence
from importlib import resources

import numpy as np

__all__ = ["WEIGHTS_TYPE", "b64_array", "weights_block", "externalize_weights", "new_block_id",
           "style_tag", "data_tag", "mount_script", "script_tag", "slider_html"]

WEIGHTS_TYPE = "application/vnd.vaelib.weights+base64"
_WEIGHTS_BLOCK = re.compile(
    r'<script type="application/vnd\.vaelib\.weights\+base64" class="vaelib-weights" '
    r'data-key="([0-9a-f]{16})">([A-Za-z0-9+/=]*)</script>')


def b64_array(array: np.ndarray) -> str:
    """An array's bytes, little-endian, as base64 text (the page reads it as a typed array)."""
    little = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"))
    return base64.b64encode(little.tobytes()).decode("ascii")


def weights_block(layers: Sequence) -> tuple[dict, str]:
    """The page's description of a network (JSON-ready) and its weights block (HTML).

    Args:
        layers: the linear layers, input first, each with ``weight16`` (out, in) float16 and
            ``bias`` (out,) float32 (:class:`vaelib.web_explorer.PageLinear`).

    Returns:
        ``({"key", "layers"}, block)``: the block holds, per layer, the float16 weights (rows x
        cols, row-major) and then the float32 biases, little-endian; the description gives each
        layer's byte offsets into it, and ``key`` names the block by a hash of its bytes.
    """
    chunks, spec, offset = [], [], 0
    for layer in layers:
        w = np.ascontiguousarray(layer.weight16, dtype="<f2").tobytes()
        b = np.ascontiguousarray(layer.bias, dtype="<f4").tobytes()
        spec.append({"rows": int(layer.weight16.shape[0]), "cols": int(layer.weight16.shape[1]),
                     "w": offset, "b": offset + len(w)})
        chunks += [w, b]
        offset += len(w) + len(b)
    blob = b"".join(chunks)
    key = hashlib.sha256(blob).hexdigest()[:16]
    text = base64.b64encode(blob).decode("ascii")
    block = f'<script type="{WEIGHTS_TYPE}" class="vaelib-weights" data-key="{key}">{text}</script>'
    return {"key": key, "layers": spec}, block


def externalize_weights(page: str, write: Callable[[str, str], str]) -> str:
    """Move every weights block of an HTML page into a script file; return the new page.

    Args:
        page: HTML with the blocks that :func:`weights_block` writes.
        write: ``write(key, script_text) -> url`` stores a file's text (once per key is enough: the
            text depends on the key only) and returns the URL the page should load it from.

    Returns:
        The page with each block replaced by ``<script src=url>``. A classic script runs before
        the parser goes on, so the page scripts further down find the weights already there,
        from a server or from ``file://`` alike. A key repeated in one page is loaded once.
    """
    seen: set[str] = set()

    def replace(match: re.Match) -> str:
        key, text = match.group(1), match.group(2)
        if key in seen:
            return ""
        seen.add(key)
        script = f'(window.vaelibWeights = window.vaelibWeights || {{}})["{key}"] = "{text}";\n'
        return f'<script src="{html.escape(write(key, script), quote=True)}" data-vaelib-weights="{key}"></script>'

    return _WEIGHTS_BLOCK.sub(replace, page)


def _resource(name: str) -> str:
    return resources.files("vaelib").joinpath(name).read_text(encoding="utf-8")


def new_block_id() -> str:
    """An id for a block's root element, unique among the blocks of a page."""
    return f"vaelib-explorer-{uuid.uuid4().hex[:12]}"


def style_tag(name: str = "web_explorer.css") -> str:
    """A stylesheet of the package, inline (a notebook output has no other place to take it from)."""
    return f'<style>{_resource(name)}</style>'


def data_tag(data: dict, css_class: str = "vaelib-explorer-data") -> str:
    """The block's settings, read by the page script.

    ``<``, ``>`` and ``&`` are written as JSON escapes, so text in the data (a question, an
    explanation) can never close the script element early; the parsed JSON is the same.
    """
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" class="{css_class}">{text}</script>'


def mount_script(block_id: str) -> str:
    """The page script, and the call that starts it on the block ``block_id``."""
    return script_tag("web_explorer.js", f'window.vaelibExplorer.mount(document.getElementById("{block_id}"));')


def script_tag(name: str, then: str = "") -> str:
    """A script of the package, inline, followed by ``then`` (the call that starts it on a block).

    Inline because the block must work alone: in a notebook output, in the book, from ``file://``.
    Each script defines its one global only once, so a page with many blocks runs it once.
    """
    return f"<script>{_resource(name)}\n{then}</script>"


def slider_html(d: int, value: float, lo: float, hi: float, step: float, name: str) -> str:
    """A labelled range input for latent dimension ``d``, with its value shown beside it."""
    return (f'<label class="vaelib-explorer-slider"><span>{html.escape(name)}</span>'
            f'<input type="range" min="{lo}" max="{hi}" step="{step}" value="{value:.4f}" data-dim="{d}" '
            f'aria-label="latent {html.escape(name)}"><output>{value:.2f}</output></label>')
