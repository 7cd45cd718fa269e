"""The drawing pad: the reader draws a digit in the page, the encoder places it, the decoder redraws it.

Kernel-free, like the explorers of :mod:`vaelib.web_explorer`, with the same page script,
stylesheet and float16 weight blocks (:mod:`vaelib.page_assets`): the page centres and scales the
strokes as MNIST's digits were (:func:`preprocess_strokes` is the Python twin of the page's code,
so a test can compare them), runs the encoder, places the code on a map of training codes,
decodes it, and scores it with the ELBO. The page computes that ELBO in its script; in Python,
:func:`page_elbo` computes it with the library's own terms (:mod:`vaelib.losses`) from the
standard-normal draws that the page carries, so PyTorch reproduces the number the reader sees.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import page_assets as page
from ._validation import indices, integer, positive_int
from .losses import bernoulli_log_likelihood, kl_standard_normal
from .web_explorer import export_decoder, export_encoder

__all__ = ["BINARY_THRESHOLD", "DrawingPad", "page_elbo", "preprocess_strokes"]

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
    n, s = mu.shape[0], eps.shape[0]
    # the page's fixed draws instead of fresh noise: z = mu + sigma * eps, (N, S, D)
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps.cpu().double()[None]
    logits = decode_logits(z.reshape(n * s, -1).float()).cpu().double()  # (N*S, C, H, W)
    target = x.double().repeat_interleave(s, dim=0)  # (N, C, H, W) -> (N*S, C, H, W), as z
    reconstruction = bernoulli_log_likelihood(logits, target).reshape(n, s).mean(1)  # (N,) nats
    kl = kl_standard_normal(mu, logvar)  # (N,) nats
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
            that they score, binarized as the drawing is, for comparison, and offers the first
            ``test_digits`` of them in place of a drawing (the keyboard's way to use the pad).
        test_digits: how many reference images the page carries as test digits (784 bytes each).
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
                 test_digits: int = 10, title: str = "Draw a digit: the encoder places it, the decoder redraws it"):
        if plane_model is None and latent_model is None:
            raise ValueError("Pass a plane_model (2-D), a latent_model, or both.")
        samples = positive_int("samples", samples)
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
            self.dims = (list(range(min(8, latent_model.latent_dim))) if dims is None
                         else indices("dims", dims, latent_model.latent_dim))
        self.typical = {}
        self.test_images = torch.zeros(0, 1, DRAW_SIZE, DRAW_SIZE)
        if reference_images is not None:
            grey = torch.as_tensor(reference_images).detach().cpu().float()[:integer("test_digits", test_digits)]
            # (N, 1, 28, 28) -> 8-bit grey levels, as the page carries them (MNIST's own precision)
            self.test_images = (grey.clamp(0, 1) * 255).round().to(torch.uint8).reshape(-1, 1, DRAW_SIZE, DRAW_SIZE)
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
                "map_box": list(map_box) if map_box else None, "dims": self.dims, "models": {},
                "test_count": len(self.test_images),
                "test_digits": base64.b64encode(self.test_images.numpy().tobytes()).decode("ascii")}
        blocks = []
        for name, (encoder, decoder) in self.exports.items():
            encoder_spec, encoder_block = page.weights_block(encoder.layers)
            decoder_spec, decoder_block = page.weights_block(decoder.layers)
            blocks += [encoder_block, decoder_block]
            data["models"][name] = {
                "latent_dim": encoder.latent_dim, "encoder": encoder_spec, "decoder": decoder_spec,
                "eps": page.b64_array(self.eps[name].numpy().astype(np.float32)), "samples": self.samples,
                "typical": self.typical.get(name)}
        uid = page.new_block_id()
        zoom = 4
        parts = [page.style_tag(),
                 f'<div class="vaelib-draw" id="{uid}" data-kind="draw">',
                 f'<div class="vaelib-explorer-title">{html.escape(title)}</div>',
                 '<div class="vaelib-explorer-body">',
                 '<div class="vaelib-draw-padbox"><canvas class="vaelib-draw-pad" width="280" height="280" '
                 'role="img" aria-label="drawing pad: draw a digit with the mouse, a finger or a pen, '
                 'or choose a test digit below"></canvas>'
                 '<button type="button" class="vaelib-draw-clear">clear</button>',
                 self._picker_html(uid), '</div>',
                 f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-input" width="{DRAW_SIZE * zoom}" '
                 f'height="{DRAW_SIZE * zoom}" role="img" aria-label="your digit, centred and scaled"></canvas>'
                 '<figcaption>centred and scaled as MNIST (28&times;28)</figcaption></figure>',
                 f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-binary" width="{DRAW_SIZE * zoom}" '
                 f'height="{DRAW_SIZE * zoom}" role="img" aria-label="your digit as the binary image the models score"></canvas>'
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
                      f'height="{DRAW_SIZE * 6}" role="img" aria-label="reconstruction by the 2-D VAE"></canvas>'
                      '<figcaption>decoded at &mu; (the ring&rsquo;s centre)</figcaption></figure>',
                      '<p class="vaelib-draw-score"></p></div></div>']
        if "latent" in self.models:
            d = self.models["latent"].latent_dim
            parts += ['<div class="vaelib-draw-model" data-model="latent">',
                      f'<div class="vaelib-draw-heading">The {d}-D VAE</div><div class="vaelib-explorer-body">',
                      f'<figure class="vaelib-draw-fig"><canvas class="vaelib-draw-reconstruction" width="{DRAW_SIZE * 6}" '
                      f'height="{DRAW_SIZE * 6}" role="img" aria-label="reconstruction by the {d}-D VAE"></canvas>'
                      '<figcaption>decoded at the sliders&rsquo; code</figcaption></figure>',
                      '<div class="vaelib-explorer-sliders">']
            parts += [page.slider_html(k, 0.0, lo, hi, 0.05, f"z{k + 1}") for k in self.dims]
            parts += ['<button type="button" class="vaelib-draw-to-mu">back to &mu; of your digit</button></div>',
                      '<p class="vaelib-draw-score"></p></div></div>']
        # One live region for the whole pad (the score lines above are not live: two regions would
        # read each number twice): the digit's source and each model's ELBO, once the reader pauses.
        parts.append('<p class="vaelib-draw-status" role="status" aria-live="polite"></p>')
        nbytes = sum(e.nbytes + dec.nbytes for e, dec in self.exports.values())
        parts.append(
            f'<p class="vaelib-explorer-note">Everything runs in your browser ({nbytes / 1024:.0f} KB of float16 '
            f'encoder and decoder weights; no kernel, no network). The ELBO is in nats per image; its '
            f'reconstruction term averages over {self.samples} fixed draws z = &mu; + &sigma;&epsilon;.</p>')
        parts += [page.data_tag(data), *blocks, page.mount_script(uid)]
        parts.append('</div>')
        return "\n".join(parts)

    def _picker_html(self, uid: str) -> str:
        """The test-digit controls: a select and a "next" button, both usable from the keyboard."""
        if not len(self.test_images):
            return ""
        options = "".join(f'<option value="{k}">test digit {k + 1}</option>' for k in range(len(self.test_images)))
        return (f'<div class="vaelib-draw-tests"><label for="{uid}-digit">or use a test digit</label>'
                f'<select class="vaelib-draw-digit" id="{uid}-digit"><option value="">none (draw)</option>'
                f'{options}</select><button type="button" class="vaelib-draw-next">next test digit</button></div>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"DrawingPad({', '.join(f'{n}: {m.latent_dim}-D' for n, m in self.models.items())})"
