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

:func:`export_encoder` stores an encoder in the same format, for the drawing pad
(:mod:`vaelib.drawing_pad`). Both write their blocks with :mod:`vaelib.page_assets` (weights,
data, controls and the page script), in the one format that the book's Sphinx extension reads.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .page_assets import (
    b64_array,
    data_tag,
    mount_script,
    new_block_id,
    slider_html,
    style_tag,
    weights_block,
)

__all__ = ["DecoderExport", "EncoderExport", "PageLinear", "UnsupportedDecoder", "UnsupportedEncoder",
           "explorer_html", "export_decoder", "export_encoder"]


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
    decoder_spec, weights = weights_block(export.layers)
    data = {
        "kind": kind, "latent_dim": export.latent_dim, "num_classes": export.num_classes,
        "image_shape": list(export.image_shape), "z0": [round(float(v), 6) for v in z0],
        "label": int(label) if label is not None else None, "range": [lo, hi],
        "decoder": decoder_spec,
        # PyTorch's image at z0 from the full-precision model: the browser tests compare against it.
        "reference": b64_array(reference.numpy().astype(np.float32)), "reference_max_diff": max_diff,
        "plane_box": list(plane_box) if plane_box else None,
    }
    uid = new_block_id()
    h, w = export.image_shape[1:]
    zoom = max(1, round(168 / max(h, w)))
    parts = [style_tag(),
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
        # Focusable, so the arrow keys move the point as a click does (web_explorer.js); the
        # application role lets a screen reader pass the arrows through to it.
        parts.append(f'<div class="vaelib-explorer-map" tabindex="0" role="application" '
                     f'aria-roledescription="map" aria-label="map of the latent plane" aria-describedby="{uid}-keys">'
                     f'<img src="data:image/png;base64,{image}" alt="{html.escape(figure_caption)}">'
                     f'<span class="vaelib-explorer-marker"></span></div>')
    parts.append(f'<canvas class="vaelib-explorer-canvas" width="{w * zoom}" height="{h * zoom}" '
                 f'role="img" aria-label="decoded image"></canvas>')
    parts.append('<div class="vaelib-explorer-sliders">')
    parts += [slider_html(d, float(z0[d]), lo, hi, step, f"z{d + 1}") for d in dims]
    parts.append('<button type="button" class="vaelib-explorer-reset">reset</button></div></div>')
    if kind == "plane":
        parts.append(f'<p class="vaelib-explorer-keys" id="{uid}-keys">Click the map, or focus it and use the '
                     f'arrow keys (Shift: ten steps, Home: back to the start), to move the point.</p>')
    # Says what changed (the code, the label, the decoded image) once the reader pauses.
    parts.append('<p class="vaelib-explorer-status" role="status" aria-live="polite"></p>')
    parts.append(
        f'<p class="vaelib-explorer-note">Decoded by your browser from the trained decoder '
        f'({export.nbytes / 1024:.0f} KB of float16 weights in this page; no kernel, no network). '
        f'At the starting code it differs from PyTorch\'s image by at most {max_diff:.2g} '
        f'(pixel values run from 0 to 1).</p>')
    parts += [data_tag(data), weights, mount_script(uid)]
    parts.append('</div>')
    if figure_png and kind != "plane":
        image = base64.b64encode(figure_png).decode("ascii")
        parts.append(f'<figure class="vaelib-explorer-figure"><img src="data:image/png;base64,{image}" '
                     f'alt="{html.escape(figure_caption)}"><figcaption>{html.escape(figure_caption)}'
                     f'</figcaption></figure>')
    return "\n".join(parts)
