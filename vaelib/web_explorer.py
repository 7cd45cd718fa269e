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
"""

from __future__ import annotations

import base64
import html
import json
import math
import uuid
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import torch
from torch import nn

__all__ = ["DecoderExport", "UnsupportedDecoder", "export_decoder", "explorer_html"]


class UnsupportedDecoder(ValueError):
    """The decoder is not a plain stack of Linear and ReLU layers, so the page cannot run it."""


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
        h = z.detach().cpu().float().reshape(-1, self.latent_dim)
        if self.num_classes:
            if labels is None:
                raise ValueError("This decoder is conditional: pass the labels too.")
            h = torch.cat([h, nn.functional.one_hot(labels.cpu().long(), self.num_classes).float()], dim=1)
        for i, layer in enumerate(self.layers):
            h = h @ layer.weight.T + torch.from_numpy(layer.bias)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return torch.sigmoid(h).reshape(-1, *self.image_shape)


def _to_page(linear: nn.Linear) -> PageLinear:
    weight = linear.weight.detach().cpu().float()
    if weight.abs().max() > 65504:  # float16's largest finite value
        raise UnsupportedDecoder("A weight is too large for float16; this decoder cannot go into the page.")
    bias = linear.bias.detach().cpu().numpy() if linear.bias is not None else np.zeros(weight.shape[0])
    return PageLinear(weight16=weight.numpy().astype(np.float16), bias=bias.astype(np.float32))


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
    modules = [m for m in decoder.modules() if not list(m.children())]  # the leaves, in order
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    others = [type(m).__name__ for m in modules if not isinstance(m, nn.Linear | nn.ReLU)]
    if others or not linears:
        raise UnsupportedDecoder(
            f"Only decoders made of Linear and ReLU layers run in the page; this one has {others or 'no Linear'}.")
    if len([m for m in modules if isinstance(m, nn.ReLU)]) != len(linears) - 1 or isinstance(modules[-1], nn.ReLU):
        raise UnsupportedDecoder("The page expects a ReLU between consecutive Linear layers and none after the last.")
    num_classes = int(getattr(model, "num_classes", 0))
    if linears[0].in_features != model.latent_dim + num_classes:
        raise UnsupportedDecoder(
            f"The first layer takes {linears[0].in_features} inputs, not latent_dim + num_classes = "
            f"{model.latent_dim + num_classes}.")
    shape = tuple(int(s) for s in model.image_shape)
    if len(shape) != 3 or linears[-1].out_features != math.prod(shape):
        raise UnsupportedDecoder(f"The last layer's {linears[-1].out_features} outputs are not an image of shape {shape}.")
    return DecoderExport([_to_page(m) for m in linears], int(model.latent_dim), num_classes, shape)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode("ascii")


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
    data = {
        "kind": kind, "latent_dim": export.latent_dim, "num_classes": export.num_classes,
        "image_shape": list(export.image_shape), "z0": [round(float(v), 6) for v in z0],
        "label": int(label) if label is not None else None, "range": [lo, hi],
        "layers": [{"rows": int(layer.weight16.shape[0]), "cols": int(layer.weight16.shape[1]),
                    "weight16": _b64(layer.weight16), "bias": _b64(layer.bias)} for layer in export.layers],
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
    parts.append(f'<script>{_resource("web_explorer.js")}\nwindow.vaelibExplorer.mount(document.getElementById("{uid}"));</script>')
    parts.append('</div>')
    if figure_png and kind != "plane":
        image = base64.b64encode(figure_png).decode("ascii")
        parts.append(f'<figure class="vaelib-explorer-figure"><img src="data:image/png;base64,{image}" '
                     f'alt="{html.escape(figure_caption)}"><figcaption>{html.escape(figure_caption)}'
                     f'</figcaption></figure>')
    return "\n".join(parts)
