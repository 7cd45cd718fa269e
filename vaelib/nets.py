"""Encoder and decoder building blocks: small MLPs and small conv nets, sized by arguments.

An *encoder* maps images (B, C, H, W) to features (B, out_features); a *decoder* maps codes
(B, in_features) to images of logits (B, C, H, W). The models in :mod:`vaelib.models` decide what
the features mean (a code, or the mean and log-variance of q(z|x)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

import torch
from torch import nn

from ._validation import number

__all__ = ["mlp", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "make_encoder", "make_decoder"]

ARCHITECTURES = ("mlp", "conv")


def mlp(sizes: Sequence[int], *, activation: Callable[[], nn.Module] = nn.ReLU,
        dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` (and dropout) between them, not after
    the last: the one fully connected builder of the course (encoders, decoders, the classifier,
    chapter 9's GAN and diffusion networks).

    ``mlp([784, 400, 20])`` is Linear(784, 400) -> ReLU -> Linear(400, 20);
    ``mlp([784, 256, 10], dropout=0.2)`` is Linear -> ReLU -> Dropout(0.2) -> Linear.

    Args:
        sizes: the layer widths, input first; at least two positive integers.
        activation: makes one activation module, e.g. ``nn.SiLU`` or
            ``functools.partial(nn.LeakyReLU, 0.2)``.
        dropout: the dropout probability after each hidden activation, in [0, 1); 0: no dropout layer.
    """
    if len(sizes) < 2 or any(isinstance(s, bool) or int(s) != s or int(s) < 1 for s in sizes):
        raise ValueError(f"mlp needs at least two positive integer sizes, got {list(sizes)}.")
    dropout = number("dropout", dropout, at_least=0, below=1, advice="0 turns dropout off.")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(int(n_in), int(n_out)))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten the image, then an MLP: (B, C, H, W) -> (B, out_features)."""

    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int], out_features: int,
                 *, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.net = mlp([prod(image_shape), *hidden, out_features], activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1))  # (B, C, H, W) -> (B, C*H*W) -> (B, out)


class MLPDecoder(nn.Module):
    """An MLP, then reshape to an image of logits: (B, in_features) -> (B, C, H, W)."""

    def __init__(self, in_features: int, hidden: Sequence[int], image_shape: Sequence[int],
                 *, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = mlp([in_features, *hidden, prod(image_shape)], activation=activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).unflatten(1, self.image_shape)  # (B, C*H*W) -> (B, C, H, W)



class ConvEncoder(nn.Module):
    """Strided 4x4 convolutions, each halving the image, then an MLP head.

    (B, C, H, W) -> conv stack -> (B, channels[-1], H / 2^k, W / 2^k) -> (B, out_features).
    """

    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int], out_features: int,
                 *, channels: Sequence[int] = (32, 64)):
        super().__init__()
        c, h, w = _check_conv_shape(image_shape, len(channels))
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            c = c_out
        self.conv = nn.Sequential(*layers)
        flat = c * (h >> len(channels)) * (w >> len(channels))
        self.head = mlp([flat, *hidden, out_features])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(start_dim=1))  # (B, c, h, w) -> (B, c*h*w) -> (B, out)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: an MLP, then transposed convolutions that double the size."""

    def __init__(self, in_features: int, hidden: Sequence[int], image_shape: Sequence[int],
                 *, channels: Sequence[int] = (32, 64)):
        super().__init__()
        c_img, h, w = _check_conv_shape(image_shape, len(channels))
        k = len(channels)
        self.start = (channels[-1], h >> k, w >> k)
        self.head = nn.Sequential(mlp([in_features, *hidden, prod(self.start)]), nn.ReLU())
        layers: list[nn.Module] = []
        outs = [*reversed(channels[:-1]), c_img]
        c = channels[-1]
        for i, c_out in enumerate(outs):
            layers.append(nn.ConvTranspose2d(c, c_out, kernel_size=4, stride=2, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            c = c_out
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.head(z).unflatten(1, self.start))  # (B, F) -> (B, c, h, w) -> image



def _check_conv_shape(image_shape: Sequence[int], depth: int) -> tuple[int, int, int]:
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)}.")
    c, h, w = (int(s) for s in image_shape)
    step = 2**depth
    if h % step or w % step:
        raise ValueError(
            f"A conv net with {depth} stride-2 layers needs H and W divisible by {step}; "
            f"got {h}x{w}. Pad the images or pass fewer channels."
        )
    return c, h, w


def make_encoder(arch: str, image_shape: Sequence[int], hidden: Sequence[int], out_features: int,
                 **kwargs) -> nn.Module:
    """An encoder by name: ``"mlp"`` or ``"conv"``."""
    if arch == "mlp":
        return MLPEncoder(image_shape, hidden, out_features, **kwargs)
    if arch == "conv":
        return ConvEncoder(image_shape, hidden, out_features, **kwargs)
    raise ValueError(f"arch={arch!r} is unknown; use one of {ARCHITECTURES}.")


def make_decoder(arch: str, in_features: int, hidden: Sequence[int], image_shape: Sequence[int],
                 **kwargs) -> nn.Module:
    """A decoder by name: ``"mlp"`` or ``"conv"``."""
    if arch == "mlp":
        return MLPDecoder(in_features, hidden, image_shape, **kwargs)
    if arch == "conv":
        return ConvDecoder(in_features, hidden, image_shape, **kwargs)
    raise ValueError(f"arch={arch!r} is unknown; use one of {ARCHITECTURES}.")
