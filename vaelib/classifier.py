"""A small digit classifier, trained on real digits, that grades what generators draw.

Its accuracy on generated digits (:func:`vaelib.evaluate.generated_digit_accuracy`) says whether a
conditional VAE draws the digit it was asked for; its last hidden layer is a feature space for
comparing sets of images (:func:`vaelib.evaluate.sample_quality.frechet_distance`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import batch_slices
from .nets import mlp
from .train import History, train_new_model

__all__ = ["DigitClassifier", "train_classifier"]


class DigitClassifier(nn.Module):
    """A small MLP classifier: images (B, C, H, W) -> class logits (B, num_classes).

    Args:
        hidden: hidden layer sizes.
        num_classes: number of classes.
        image_shape: (C, H, W).
        dropout: dropout before each hidden layer's output, a regulariser for small training sets.
    """

    def __init__(self, *, hidden: Sequence[int] = (256,), num_classes: int = 10,
                 image_shape: Sequence[int] = (1, 28, 28), dropout: float = 0.2):
        super().__init__()
        self.net = mlp([math.prod(image_shape), *hidden, num_classes], dropout=dropout)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1))  # (B, C, H, W) -> (B, P) -> (B, K)

    @torch.no_grad()
    def features(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """The last hidden layer's activations (N, hidden[-1]) on the CPU, in eval mode.

        A feature space for comparing sets of images (e.g. a Fréchet distance): it is trained to
        separate digits, so it is sensitive to what makes a digit recognisable.
        """
        self.eval()
        device = next(self.parameters()).device
        body = self.net[:-1]  # everything before the output layer
        out = [body(x[sl].to(device).flatten(start_dim=1)).cpu() for sl in batch_slices(x.shape[0], batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes (N,) on the CPU, in eval mode."""
        self.eval()
        device = next(self.parameters()).device
        out = [self(x[sl].to(device)).argmax(1).cpu() for sl in batch_slices(x.shape[0], batch_size)]
        return torch.cat(out)


def _cross_entropy(model, xb, yb):
    logits = model(xb)
    loss = F.cross_entropy(logits, yb)
    return {"loss": loss, "accuracy": (logits.argmax(1) == yb).float().mean()}


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, steps: int = 1500, hidden: Sequence[int] = (256,),
                     lr: float = 1e-3, batch_size: int = 100, seed: int = 0,
                     progress: bool = True) -> tuple[DigitClassifier, History]:
    """Train a :class:`DigitClassifier` on grey-level images by cross-entropy.

    Each batch is binarized half of the time (a coin per step), so the classifier knows both the
    grey-level digits and binary ones and does not depend on the exact pixel statistics; generated
    digits (decoder means) are smoother than either.

    Args:
        x: images in [0, 1], (N, C, H, W), on the device to train on.
        y: labels (N,).
        steps: optimizer steps.

    Returns:
        ``(classifier, history)``, the classifier in eval mode on ``x``'s device.
    """
    def build() -> DigitClassifier:
        return DigitClassifier(hidden=hidden, image_shape=tuple(x.shape[1:]), num_classes=int(y.max()) + 1)

    def augment(xb: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(xb) if torch.rand(()) < 0.5 else xb

    return train_new_model(build, _cross_entropy, x, y=y.long(), seed=seed, steps=steps, lr=lr,
                           batch_size=batch_size, transform=augment, progress=progress,
                           desc="digit classifier")
