"""Explorers that work in the rendered book: the decoder's weights and a small script in the page.

A static page has no kernel, so an ipywidgets slider there is dead. For an MLP decoder that is no
loss: decoding one code is a few matrix-vector products, which the browser does in a millisecond.
:func:`export_decoder` stores the decoder's linear layers as float16 weights with float32 biases:
half the float32 size. 8-bit weights would halve it again, but they moved the trained MNIST
decoders' pixels by up to 0.02; float16 keeps them within 0.0004, and each page states the
difference it measured at its starting code. :func:`explorer_html` writes a self-contained block
of HTML, the controls plus ``web_explorer.js``, that decodes on a canvas as the reader drags.
Nothing is loaded from anywhere else.

:mod:`vaelib.widgets` puts this HTML beside the live widget in each explorer's display bundle:
JupyterLab shows the widget, the book (which cannot run widgets) shows this.

:class:`DrawingPad` is the other half: the reader draws a digit, the page centres and scales it as
MNIST's digits were (:func:`preprocess_strokes` is the Python twin of the page's code), runs the
encoder (:func:`export_encoder`, the same float16 format), places the code on a map of training
codes, decodes it, and scores it with the ELBO (:func:`page_elbo`, with standard-normal draws that
the page ships, so PyTorch reproduces the number).

Weights travel as separate base64 blocks keyed by a hash of their bytes. In a notebook they stay in
the output, so the block works alone; the book's Sphinx extension (``book/_ext/vaelib_weights.py``)
moves each into a script file next to the page (:func:`externalize_weights`), which keeps the
chapters' HTML small, loads a decoder shared by two blocks once, and works from ``file://``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import torch
from torch import nn

__all__ = ["DecoderExport", "DrawingPad", "EncoderExport", "UnsupportedDecoder", "UnsupportedEncoder",
           "explorer_html", "export_decoder", "export_encoder", "externalize_weights", "page_elbo",
           "preprocess_strokes"]


class UnsupportedDecoder(ValueError):
    """The decoder is not a plain stack of Linear and ReLU layers, so the page cannot run it."""


class UnsupportedEncoder(ValueError):
    """The encoder is not a plain stack of Linear and ReLU layers, so the page cannot run it."""


@dataclass
class PageLinear:
    """One linear layer as the page stores it."""

    weight16: np.ndarray  # (out, in) float16
    bias: np.ndarray      # (out,) float32

    @property
    def weight(self) -> torch.Tensor:
        """The weights the page computes with, as float32."""
        return torch.from_numpy(self.weight16.astype(np.float32))


@dataclass
class DecoderExport:
    """A decoder ready for the page: linear layers with ReLU between them and a sigmoid at the end.

    Attributes:
        layers: the linear layers, input first.
        latent_dim: D; the input is the code, followed by a one-hot label when ``num_classes`` > 0.
        num_classes: 0 for an unconditional decoder.
        image_shape: (C, H, W) of the decoded image.
    """

    layers: list[PageLinear]
    latent_dim: int
    num_classes: int
    image_shape: tuple[int, int, int]
    nbytes: int = field(init=False)

    def __post_init__(self):
        self.nbytes = sum(layer.weight16.nbytes + layer.bias.nbytes for layer in self.layers)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """What the page computes, in PyTorch: codes (M, D) [and labels (M,)] -> images (M, C, H, W)."""
        return torch.sigmoid(self.logits(z, labels))

    @torch.no_grad()
    def logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The page's logits before the sigmoid: codes (M, D) [and labels (M,)] -> (M, C, H, W)."""
        h = z.detach().cpu().float().reshape(-1, self.latent_dim)
        if self.num_classes:
            if labels is None:
                raise ValueError("This decoder is conditional: pass the labels too.")
            h = torch.cat([h, nn.functional.one_hot(labels.cpu().long(), self.num_classes).float()], dim=1)
        return _forward(self.layers, h).reshape(-1, *self.image_shape)


def _to_page(linear: nn.Linear, error: type[ValueError] = UnsupportedDecoder) -> PageLinear:
    weight = linear.weight.detach().cpu().float()
    if weight.abs().max() > 65504:  # float16's largest finite value
        raise error("A weight is too large for float16; this network cannot go into the page.")
    bias = linear.bias.detach().cpu().numpy() if linear.bias is not None else np.zeros(weight.shape[0])
    return PageLinear(weight16=weight.numpy().astype(np.float16), bias=bias.astype(np.float32))


def _linear_stack(net: nn.Module, what: str, error: type[ValueError]) -> list[nn.Linear]:
    """The Linear layers of ``net`` if it is Linear, ReLU, Linear, ..., Linear; else ``error``."""
    modules = [m for m in net.modules() if not list(m.children())]  # the leaves, in order
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    others = [type(m).__name__ for m in modules if not isinstance(m, nn.Linear | nn.ReLU)]
    if others or not linears:
        raise error(f"Only {what}s made of Linear and ReLU layers run in the page; this one has {others or 'no Linear'}.")
    if len([m for m in modules if isinstance(m, nn.ReLU)]) != len(linears) - 1 or isinstance(modules[-1], nn.ReLU):
        raise error("The page expects a ReLU between consecutive Linear layers and none after the last.")
    return linears


def _forward(layers: list[PageLinear], h: torch.Tensor) -> torch.Tensor:
    """(M, in) -> (M, out) through the page's layers, ReLU between them, nothing after the last."""
    for i, layer in enumerate(layers):
        h = h @ layer.weight.T + torch.from_numpy(layer.bias)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def export_decoder(model: nn.Module) -> DecoderExport:
    """Convert the MLP decoder of a :class:`~vaelib.models.VAE`, ``Autoencoder`` or ``ConditionalVAE``.

    Raises:
        UnsupportedDecoder: the decoder has layers other than Linear and ReLU (a conv decoder);
            such a model keeps the static figure in the book.
    """
    decoder = getattr(model, "decoder", None)
    if decoder is None or not hasattr(model, "latent_dim") or not hasattr(model, "image_shape"):
        raise UnsupportedDecoder(
            f"{type(model).__name__} is not a vaelib model with a decoder; pass a VAE, an "
            "Autoencoder or a ConditionalVAE.")
    linears = _linear_stack(decoder, "decoder", UnsupportedDecoder)
    num_classes = int(getattr(model, "num_classes", 0))
    if linears[0].in_features != model.latent_dim + num_classes:
        raise UnsupportedDecoder(
            f"The first layer takes {linears[0].in_features} inputs, not latent_dim + num_classes = "
            f"{model.latent_dim + num_classes}.")
    shape = tuple(int(s) for s in model.image_shape)
    if len(shape) != 3 or linears[-1].out_features != math.prod(shape):
        raise UnsupportedDecoder(f"The last layer's {linears[-1].out_features} outputs are not an image of shape {shape}.")
    return DecoderExport([_to_page(m) for m in linears], int(model.latent_dim), num_classes, shape)


@dataclass
class EncoderExport:
    """A VAE's encoder ready for the page: linear layers with ReLU between them, nothing at the end.

    The last layer's 2D outputs are the means and then the log-variances of q(z|x), as in
    :meth:`vaelib.models.VAE.encode`.

    Attributes:
        layers: the linear layers, input first.
        latent_dim: D.
        image_shape: (C, H, W) of the input image.
    """

    layers: list[PageLinear]
    latent_dim: int
    image_shape: tuple[int, int, int]
    nbytes: int = field(init=False)

    def __post_init__(self):
        self.nbytes = sum(layer.weight16.nbytes + layer.bias.nbytes for layer in self.layers)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the page computes, in PyTorch: images (M, C, H, W) -> mu (M, D), logvar (M, D)."""
        h = torch.as_tensor(x).detach().cpu().float().reshape(-1, math.prod(self.image_shape))
        mu, logvar = _forward(self.layers, h).chunk(2, dim=1)  # (M, 2D) -> 2 x (M, D)
        return mu, logvar


def export_encoder(model: nn.Module) -> EncoderExport:
    """Convert the MLP encoder of a :class:`~vaelib.models.VAE` for the page.

    Raises:
        UnsupportedEncoder: not a VAE with an MLP encoder (a conv encoder, an autoencoder's single
            code, a conditional encoder that also takes the label).
    """
    encoder = getattr(model, "encoder", None)
    if encoder is None or not hasattr(model, "latent_dim") or not hasattr(model, "image_shape"):
        raise UnsupportedEncoder(f"{type(model).__name__} is not a vaelib VAE with an encoder.")
    if hasattr(model, "num_classes"):
        raise UnsupportedEncoder("A conditional encoder also takes the label; the page runs a VAE's encoder only.")
    linears = _linear_stack(encoder, "encoder", UnsupportedEncoder)
    shape = tuple(int(s) for s in model.image_shape)
    if len(shape) != 3 or linears[0].in_features != math.prod(shape):
        raise UnsupportedEncoder(f"The first layer's {linears[0].in_features} inputs are not an image of shape {shape}.")
    if linears[-1].out_features != 2 * model.latent_dim:
        raise UnsupportedEncoder(
            f"The last layer has {linears[-1].out_features} outputs, not 2 x latent_dim = {2 * model.latent_dim} "
            "(means and log-variances); an autoencoder's encoder cannot be scored with an ELBO.")
    return EncoderExport([_to_page(m, UnsupportedEncoder) for m in linears], int(model.latent_dim), shape)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode("ascii")


# Weights travel as one base64 block per network, named by a hash of its bytes: a block that the
# book's extension moved into a file is found again under that name (see externalize_weights).
WEIGHTS_TYPE = "application/vnd.vaelib.weights+base64"
_WEIGHTS_BLOCK = re.compile(
    r'<script type="application/vnd\.vaelib\.weights\+base64" class="vaelib-weights" '
    r'data-key="([0-9a-f]{16})">([A-Za-z0-9+/=]*)</script>')


def _network(layers: list[PageLinear]) -> tuple[dict, str]:
    """The page's description of a network (JSON) and its weights block (HTML).

    The block holds, per layer, the float16 weights (rows x cols, row-major) and then the float32
    biases, little-endian; the description gives each layer's byte offsets into it.
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
        page: HTML with the blocks that :func:`explorer_html` and :class:`DrawingPad` write.
        write: ``write(key, script_text) -> url`` stores a file's text (once per key is enough: the
            text depends on the key only) and returns the URL the page should load it from.

    Returns:
        The page with each block replaced by ``<script src=url>``. A classic script runs before
        the parser goes on, so the explorers' scripts further down find the weights already there,
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


def _slider(d: int, value: float, lo: float, hi: float, step: float, name: str) -> str:
    return (f'<label class="vaelib-explorer-slider"><span>{html.escape(name)}</span>'
            f'<input type="range" min="{lo}" max="{hi}" step="{step}" value="{value:.4f}" data-dim="{d}" '
            f'aria-label="latent {html.escape(name)}"><output>{value:.2f}</output></label>')


def explorer_html(export: DecoderExport, *, kind: str, title: str, z0: torch.Tensor, dims: list[int],
                  value_range: tuple[float, float], step: float, reference: torch.Tensor,
                  label: int | None = None, figure_png: bytes = b"", figure_caption: str = "",
                  plane_box: tuple[float, float, float, float] | None = None) -> str:
    """The kernel-free explorer as one block of HTML (controls, canvas, data, script).

    Args:
        export: the decoder, from :func:`export_decoder`.
        kind: ``"latent"`` (a slider per dimension), ``"plane"`` (two sliders and a clickable map,
            ``figure_png``, whose plot area spans ``plane_box``) or ``"conditional"`` (label buttons
            and sliders).
        z0: the starting code (D,); dims: the dimensions that get a slider.
        reference: PyTorch's image at ``z0`` (and ``label``) from the full-precision model; the page
            states how far its own decoding is from it, and the browser tests compare the two.
        figure_png, figure_caption: a static figure shown with the explorer (the traversal grid,
            the decoded plane, the same-style grid).
        plane_box: for ``"plane"``, where the axes' corners (value_range) lie in ``figure_png``, as
            fractions of its width and height from the top left: (left, top, right, bottom).
    """
    if kind not in ("latent", "plane", "conditional"):
        raise ValueError(f"kind={kind!r} is unknown; use 'latent', 'plane' or 'conditional'.")
    if (kind == "conditional") != bool(export.num_classes):
        raise ValueError("A conditional explorer needs a conditional decoder, and only then.")
    if kind == "plane" and (len(dims) != 2 or plane_box is None or not figure_png):
        raise ValueError("A plane explorer needs two dims, the map figure and its plane_box.")
    z0 = torch.as_tensor(z0).detach().cpu().float().reshape(-1)
    lo, hi = (float(v) for v in value_range)
    labels = torch.tensor([int(label)]) if export.num_classes else None
    in_page = export.decode(z0.unsqueeze(0), labels)[0]
    reference = torch.as_tensor(reference).detach().cpu().float().reshape(in_page.shape)
    max_diff = float((in_page - reference).abs().max())
    decoder_spec, weights_block = _network(export.layers)
    data = {
        "kind": kind, "latent_dim": export.latent_dim, "num_classes": export.num_classes,
        "image_shape": list(export.image_shape), "z0": [round(float(v), 6) for v in z0],
        "label": int(label) if label is not None else None, "range": [lo, hi],
        "decoder": decoder_spec,
        # PyTorch's image at z0 from the full-precision model: the browser tests compare against it.
        "reference": _b64(reference.numpy().astype(np.float32)), "reference_max_diff": max_diff,
        "plane_box": list(plane_box) if plane_box else None,
    }
    uid = f"vaelib-explorer-{uuid.uuid4().hex[:12]}"  # unique among the page's explorers
    h, w = export.image_shape[1:]
    zoom = max(1, round(168 / max(h, w)))
    parts = [f'<style>{_resource("web_explorer.css")}</style>',
             f'<div class="vaelib-explorer" id="{uid}" data-kind="{kind}">',
             f'<div class="vaelib-explorer-title">{html.escape(title)}</div>']
    if kind == "conditional":
        buttons = "".join(
            f'<button type="button" data-label="{k}" aria-pressed="{str(k == label).lower()}">{k}</button>'
            for k in range(export.num_classes))
        parts.append(f'<div class="vaelib-explorer-labels" role="group" aria-label="label">'
                     f'<span>digit</span>{buttons}</div>')
    parts.append('<div class="vaelib-explorer-body">')
    if kind == "plane":
        image = base64.b64encode(figure_png).decode("ascii")
        parts.append(f'<div class="vaelib-explorer-map" title="Click to move the point">'
                     f'<img src="data:image/png;base64,{image}" alt="{html.escape(figure_caption)}">'
                     f'<span class="vaelib-explorer-marker"></span></div>')
    parts.append(f'<canvas class="vaelib-explorer-canvas" width="{w * zoom}" height="{h * zoom}" '
                 f'aria-label="decoded image"></canvas>')
    parts.append('<div class="vaelib-explorer-sliders">')
    parts += [_slider(d, float(z0[d]), lo, hi, step, f"z{d + 1}") for d in dims]
    parts.append('<button type="button" class="vaelib-explorer-reset">reset</button></div></div>')
    parts.append(
        f'<p class="vaelib-explorer-note">Decoded by your browser from the trained decoder '
        f'({export.nbytes / 1024:.0f} KB of float16 weights in this page; no kernel, no network). '
        f'At the starting code it differs from PyTorch\'s image by at most {max_diff:.2g} '
        f'(pixel values run from 0 to 1).</p>')
    parts.append(f'<script type="application/json" class="vaelib-explorer-data">{json.dumps(data)}</script>')
    parts.append(weights_block)
    parts.append(f'<script>{_resource("web_explorer.js")}\nwindow.vaelibExplorer.mount(document.getElementById("{uid}"));</script>')
    parts.append('</div>')
    if figure_png and kind != "plane":
        image = base64.b64encode(figure_png).decode("ascii")
        parts.append(f'<figure class="vaelib-explorer-figure"><img src="data:image/png;base64,{image}" '
                     f'alt="{html.escape(figure_caption)}"><figcaption>{html.escape(figure_caption)}'
                     f'</figcaption></figure>')
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# The drawing pad
# --------------------------------------------------------------------------------------------

# MNIST's digits were scaled to fit a 20x20 box and then centred by their centre of mass in the
# 28x28 field. The pad does the same with the reader's strokes; these constants are shared with
# the page's script (they travel in its data), so both sides compute the same image.
DRAW_SIZE = 28
DRAW_BOX = 20.0
INK_CORE = 0.8        # pixels from the stroke's centre line that get full ink
INK_EDGE = 1.9        # ... and where the ink has faded to zero: grey edges, as in MNIST
MIN_EXTENT = 0.1      # a dot or a tiny scribble is scaled as if it spanned a tenth of the pad
BINARY_THRESHOLD = 0.5


def _segments(strokes: Sequence) -> np.ndarray:
    """Strokes (each (N_i, 2) points) -> segments (S, 2, 2); a single point is a zero-length one."""
    segments = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(points) == 1:
            segments.append(np.stack([points, points], axis=1))
        elif len(points) > 1:
            segments.append(np.stack([points[:-1], points[1:]], axis=1))
    return np.concatenate(segments) if segments else np.zeros((0, 2, 2))


def _rasterize(segments: np.ndarray) -> np.ndarray:
    """Ink of each pixel of the 28x28 field from its distance to the nearest segment (pixel units).

    The operations and their order are those of ``rasterize`` in web_explorer.js, in float64.
    """
    centre = np.arange(DRAW_SIZE, dtype=np.float64) + 0.5
    px = np.tile(centre, DRAW_SIZE)[:, None]    # (784, 1): x of each pixel centre, row-major
    py = np.repeat(centre, DRAW_SIZE)[:, None]  # (784, 1): y
    ax, ay, bx, by = (segments[None, :, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))  # (1, S)
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(length2 > 0, ((px - ax) * dx + (py - ay) * dy) / length2, 0.0)
    t = np.minimum(1.0, np.maximum(0.0, t))
    ex, ey = px - (ax + t * dx), py - (ay + t * dy)
    nearest = np.sqrt((ex * ex + ey * ey).min(axis=1))  # (784,)
    ink = np.minimum(1.0, np.maximum(0.0, (INK_EDGE - nearest) / (INK_EDGE - INK_CORE)))
    return ink.reshape(DRAW_SIZE, DRAW_SIZE)


def preprocess_strokes(strokes: Sequence) -> torch.Tensor:
    """The drawing pad's image of a drawing, computed as the page computes it.

    The strokes are scaled (keeping their aspect ratio) so that their larger side spans the 20x20
    box, drawn with a brush whose core is 1.6 pixels wide and whose edges fade to grey, and shifted
    so that the ink's centre of mass lies at the centre of the 28x28 field: MNIST's preprocessing.

    Args:
        strokes: one array of (x, y) points per stroke, as fractions of the pad's width and height
            from its top left corner (the pad's ``root.vaelib.strokes``).

    Returns:
        (1, 28, 28) float32 grey levels in [0, 1]; all zeros for an empty drawing.
    """
    segments = _segments(strokes)
    if not len(segments):
        return torch.zeros(1, DRAW_SIZE, DRAW_SIZE)
    points = segments.reshape(-1, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (DRAW_BOX - 2) / max(float(high[0] - low[0]), float(high[1] - low[1]), MIN_EXTENT)
    middle = (low + high) / 2
    boxed = (segments - middle) * scale + DRAW_SIZE / 2  # the larger side spans the box's core
    ink = _rasterize(boxed)
    total = ink.sum()
    if total <= 0:
        return torch.zeros(1, DRAW_SIZE, DRAW_SIZE)
    centre = np.arange(DRAW_SIZE) + 0.5
    mass_x, mass_y = (ink.sum(axis=0) * centre).sum() / total, (ink.sum(axis=1) * centre).sum() / total
    shifted = boxed + np.array([DRAW_SIZE / 2 - mass_x, DRAW_SIZE / 2 - mass_y])
    return torch.from_numpy(_rasterize(shifted)).float().unsqueeze(0)


def page_elbo(encode: Callable, decode_logits: Callable, x: torch.Tensor, eps: torch.Tensor) -> dict:
    """The ELBO of one binary image, with fixed standard-normal draws: what the pad prints.

    ``reconstruction = mean_s log p(x | z_s)`` with ``z_s = mu + sigma * eps_s`` (Bernoulli pixels)
    and the closed-form ``KL(N(mu, sigma^2) || N(0, I))``; ``elbo = reconstruction - kl``.

    Args:
        encode: images (1, C, H, W) -> (mu, logvar), each (1, D): ``model.encode`` or
            :meth:`EncoderExport.encode`.
        decode_logits: codes (S, D) -> logits (S, C, H, W): ``model.decode`` or
            :meth:`DecoderExport.logits`.
        x: one binary image (C, H, W) or (1, C, H, W).
        eps: (S, D) standard-normal draws.

    Returns:
        ``{"elbo", "reconstruction", "kl"}`` in nats (floats) and ``"mu"``, ``"logvar"`` (D,) tensors.
    """
    image = torch.as_tensor(x).detach().cpu().float()
    terms = _elbo_terms(encode, decode_logits, image.reshape(1, *image.shape[-3:]), eps)
    return {"elbo": float(terms["elbo"][0]), "reconstruction": float(terms["reconstruction"][0]),
            "kl": float(terms["kl"][0]), "mu": terms["mu"][0], "logvar": terms["logvar"][0]}


@torch.no_grad()
def _elbo_terms(encode: Callable, decode_logits: Callable, x: torch.Tensor, eps: torch.Tensor) -> dict:
    """:func:`page_elbo` for a batch (N, C, H, W): each term (N,), mu and logvar (N, D)."""
    mu, logvar = encode(x)
    # float64 from here on, as the page computes: the sums run over hundreds of terms
    mu, logvar = mu.cpu().double(), logvar.cpu().double()
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps.cpu().double()[None]  # (N, S, D)
    logits = decode_logits(z.reshape(-1, z.shape[-1]).float()).cpu().double()  # (N*S, C, H, W)
    logits = logits.reshape(z.shape[0], z.shape[1], -1)  # (N, S, C*H*W)
    target = x.reshape(x.shape[0], 1, -1).double().expand_as(logits)
    log_px = -nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(2)  # (N, S)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # (N,) nats
    reconstruction = log_px.mean(1)
    return {"elbo": reconstruction - kl, "reconstruction": reconstruction, "kl": kl,
            "mu": mu.float(), "logvar": logvar.float()}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


class DrawingPad:
    """Draw a digit in the page: the encoder places it, the decoder redraws it, the ELBO scores it.

    Kernel-free, like the explorers: the page carries the models' encoders and decoders as float16
    weights and does everything in the reader's browser. For a 2-D model the drawing's mean code
    appears on a map of training codes with its standard deviations as an ellipse; for a
    higher-dimensional one, sliders jump to the mean code and then edit the reader's own digit.
    Each model scores the drawing with its ELBO, the reconstruction term averaged over ``samples``
    standard-normal draws that the page carries (seeded, so :meth:`score` reproduces it).

    Args:
        plane_model: a 2-D VAE with an MLP encoder and decoder, or None.
        latent_model: a VAE of any latent size with an MLP encoder and decoder, or None.
        plane_codes, plane_labels: (N, 2) training codes of ``plane_model`` and their (N,) digits,
            drawn on the map.
        dims: the latent dimensions of ``latent_model`` that get a slider (default: the first 8).
        extent: the map's range on both axes and the sliders' range.
        samples: standard-normal draws for the reconstruction term.
        seed: the seed of those draws.
        reference_images: optional grey test images (N, 1, 28, 28); the page then states the ELBO
            that they score, binarized as the drawing is, for comparison.
        title: shown above the pad.

    Attributes:
        html: the block of HTML (controls, weights, script); the book shows it.
        eps: {"plane": (samples, 2), "latent": (samples, D)} the draws the page carries.
        typical: per model, the mean and 5% quantile of the reference images' ELBO (nats), or {}.
    """

    def __init__(self, plane_model: nn.Module | None = None, latent_model: nn.Module | None = None, *,
                 plane_codes: torch.Tensor | None = None, plane_labels: torch.Tensor | None = None,
                 dims: Sequence[int] | None = None, extent: tuple[float, float] = (-4.0, 4.0),
                 samples: int = 32, seed: int = 0, reference_images: torch.Tensor | None = None,
                 title: str = "Draw a digit: the encoder places it, the decoder redraws it"):
        if plane_model is None and latent_model is None:
            raise ValueError("Pass a plane_model (2-D), a latent_model, or both.")
        if samples < 1:
            raise ValueError(f"samples must be positive, got {samples}.")
        self.models = {name: m for name, m in (("plane", plane_model), ("latent", latent_model)) if m is not None}
        self.exports = {}
        for name, model in self.models.items():
            self.exports[name] = (export_encoder(model), export_decoder(model))
        if plane_model is not None:
            if plane_model.latent_dim != 2:
                raise ValueError(f"plane_model must have a 2-D code; this one has {plane_model.latent_dim}.")
            if plane_codes is None or plane_labels is None:
                raise ValueError("A plane_model needs plane_codes and plane_labels for its map.")
        generator = torch.Generator().manual_seed(seed)
        self.seed, self.samples, self.extent = seed, samples, (float(extent[0]), float(extent[1]))
        self.eps = {name: torch.randn(samples, m.latent_dim, generator=generator) for name, m in self.models.items()}
        self.dims = []
        if latent_model is not None:
            self.dims = list(range(min(8, latent_model.latent_dim))) if dims is None else [int(d) for d in dims]
            if any(not 0 <= d < latent_model.latent_dim for d in self.dims):
                raise ValueError(f"dims must lie in 0..{latent_model.latent_dim - 1}, got {self.dims}.")
        self.typical = {}
        if reference_images is not None:
            binary = (torch.as_tensor(reference_images).detach().cpu().float() >= BINARY_THRESHOLD).float()
            for name in self.models:
                scores = torch.cat([_elbo_terms(*self._full(name), chunk, self.eps[name])["elbo"]
                                    for chunk in binary.split(100)])  # (N,) nats
                self.typical[name] = {"mean": float(scores.mean()), "q05": float(scores.quantile(0.05)),
                                      "count": len(scores)}
        map_png, map_box = (b"", None)
        if plane_model is not None:
            map_png, map_box = self._map(plane_codes, plane_labels)
        self.html = self._html(title, map_png, map_box)

    def _map(self, codes, labels) -> tuple[bytes, tuple[float, float, float, float]]:
        from . import plots

        lo, hi = self.extent
        fig = plots.latent_scatter(torch.as_tensor(codes), torch.as_tensor(labels),
                                   title="Training codes of the 2-D VAE; the ring is your digit")
        ax = fig.axes[0]
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        png = _png(fig)  # lays the figure out; the corners below are those of the saved image
        width, height = fig.bbox.width, fig.bbox.height
        (x0, y0), (x1, y1) = ax.transData.transform([(lo, hi), (hi, lo)])
        return png, (x0 / width, 1 - y0 / height, x1 / width, 1 - y1 / height)

    def _full(self, name: str):
        model = self.models[name]
        device = next(model.parameters()).device

        def encode(x):
            was_training = model.training
            model.eval()
            try:
                return tuple(t.cpu() for t in model.encode(x.to(device)))
            finally:
                model.train(was_training)

        return encode, lambda z: model.decode(z.to(device)).cpu()

    def score_image(self, x: torch.Tensor, name: str) -> dict:
        """:func:`page_elbo` of a binary image (1, 28, 28) under model ``name`` ("plane"/"latent"), in PyTorch."""
        encode, decode = self._full(name)
        return page_elbo(encode, decode, x, self.eps[name])

    def score(self, strokes: Sequence, name: str) -> dict:
        """What the page prints for a drawing, computed by the full-precision model in PyTorch.

        Returns:
            :func:`page_elbo`'s dict plus ``"image"`` (1, 28, 28) grey levels and ``"binary"``.
        """
        image = preprocess_strokes(strokes)
        binary = (image >= BINARY_THRESHOLD).float()
        return {**self.score_image(binary, name), "image": image, "binary": binary}

    def _html(self, title: str, map_png: bytes, map_box) -> str:
        lo, hi = self.extent
        data = {"kind": "draw", "size": DRAW_SIZE, "box": DRAW_BOX, "ink_core": INK_CORE, "ink_edge": INK_EDGE,
                "min_extent": MIN_EXTENT, "threshold": BINARY_THRESHOLD, "range": [lo, hi], "seed": self.seed,
                "map_box": list(map_box) if map_box else None, "dims": self.dims, "models": {}}
        blocks = []
        for name, (encoder, decoder) in self.exports.items():
            encoder_spec, encoder_block = _network(encoder.layers)
            decoder_spec, decoder_block = _network(decoder.layers)
            blocks += [encoder_block, decoder_block]
            data["models"][name] = {
                "latent_dim": encoder.latent_dim, "encoder": encoder_spec, "decoder": decoder_spec,
                "eps": _b64(self.eps[name].numpy().astype(np.float32)), "samples": self.samples,
                "typical": self.typical.get(name)}
        uid = f"vaelib-explorer-{uuid.uuid4().hex[:12]}"
        zoom = 4
        parts = [f'<style>{_resource("web_explorer.css")}</style>',
                 f'<div class="vaelib-draw" id="{uid}" data-kind="draw">',
                 f'<div class="vaelib-explorer-title">{html.escape(title)}</div>',
                 '<div class="vaelib-explorer-body">',
                 '<div class="vaelib-draw-padbox"><canvas class="vaelib-draw-pad" width="280" height="280" '
                 'aria-label="drawing pad: draw a digit with the mouse, a finger or a pen"></canvas>'
                 '<button type="button" class="vaelib-draw-clear">clear</button></div>',
                 f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-input" width="{DRAW_SIZE * zoom}" '
                 f'height="{DRAW_SIZE * zoom}" aria-label="your digit, centred and scaled"></canvas>'
                 '<figcaption>centred and scaled as MNIST (28&times;28)</figcaption></figure>',
                 f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-binary" width="{DRAW_SIZE * zoom}" '
                 f'height="{DRAW_SIZE * zoom}" aria-label="your digit as the binary image the models score"></canvas>'
                 f'<figcaption>binary (ink &ge; {BINARY_THRESHOLD:g}): what the models score</figcaption></figure>',
                 '</div>']
        if "plane" in self.models:
            image = base64.b64encode(map_png).decode("ascii")
            parts += ['<div class="vaelib-draw-model" data-model="plane">',
                      '<div class="vaelib-draw-heading">The 2-D VAE</div><div class="vaelib-explorer-body">',
                      f'<div class="vaelib-explorer-map vaelib-draw-map"><img src="data:image/png;base64,{image}" '
                      'alt="Training codes of the 2-D VAE coloured by digit">'
                      '<span class="vaelib-draw-ellipse"></span><span class="vaelib-explorer-marker"></span></div>',
                      f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-reconstruction" width="{DRAW_SIZE * 6}" '
                      f'height="{DRAW_SIZE * 6}" aria-label="reconstruction by the 2-D VAE"></canvas>'
                      '<figcaption>decoded at &mu; (the ring&rsquo;s centre)</figcaption></figure>',
                      '<p class="vaelib-draw-score" aria-live="polite"></p></div></div>']
        if "latent" in self.models:
            d = self.models["latent"].latent_dim
            parts += ['<div class="vaelib-draw-model" data-model="latent">',
                      f'<div class="vaelib-draw-heading">The {d}-D VAE</div><div class="vaelib-explorer-body">',
                      f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-reconstruction" width="{DRAW_SIZE * 6}" '
                      f'height="{DRAW_SIZE * 6}" aria-label="reconstruction by the {d}-D VAE"></canvas>'
                      '<figcaption>decoded at the sliders&rsquo; code</figcaption></figure>',
                      '<div class="vaelib-explorer-sliders">']
            parts += [_slider(k, 0.0, lo, hi, 0.05, f"z{k + 1}") for k in self.dims]
            parts += ['<button type="button" class="vaelib-draw-to-mu">back to &mu; of your digit</button></div>',
                      '<p class="vaelib-draw-score" aria-live="polite"></p></div></div>']
        nbytes = sum(e.nbytes + dec.nbytes for e, dec in self.exports.values())
        parts.append(
            f'<p class="vaelib-explorer-note">Everything runs in your browser ({nbytes / 1024:.0f} KB of float16 '
            f'encoder and decoder weights; no kernel, no network). The ELBO is in nats per image; its '
            f'reconstruction term averages over {self.samples} fixed draws z = &mu; + &sigma;&epsilon;.</p>')
        parts.append(f'<script type="application/json" class="vaelib-explorer-data">{json.dumps(data)}</script>')
        parts += blocks
        parts.append(f'<script>{_resource("web_explorer.js")}\nwindow.vaelibExplorer.mount(document.getElementById("{uid}"));</script>')
        parts.append('</div>')
        return "\n".join(parts)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"DrawingPad({', '.join(f'{n}: {m.latent_dim}-D' for n, m in self.models.items())})"
