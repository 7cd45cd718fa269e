"""How often does a classifier agree with the labels, on real digits or on generated ones?

A conditional generator is graded by a classifier trained on real digits
(:func:`vaelib.classifier.train_classifier`): sample digits of every label, classify them, count.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import batch_slices, positive_int

__all__ = ["accuracy", "generated_digit_accuracy", "classifier_confidence"]


def _predict(classifier: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted classes (N,) on the CPU, from ``classifier.predict`` when it has one."""
    return classifier.predict(x) if hasattr(classifier, "predict") else classifier(x).argmax(1).cpu()


def accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``classifier`` labels as ``y``."""
    pred = _predict(classifier, x)
    return float((pred == y.cpu()).float().mean())


@torch.no_grad()
def generated_digit_accuracy(model, classifier: nn.Module, *, per_class: int = 100,
                             seed: int = 0) -> dict:
    """Grade a conditional generator: sample ``per_class`` digits of every label and classify them.

    Args:
        model: a :class:`~vaelib.models.ConditionalVAE` (anything with ``sample(labels, generator=)``
            and ``num_classes``).
        classifier: trained on real digits; its agreement with the requested label is the score.
        per_class: samples per label.
        seed: seeds the prior draws.

    Returns:
        ``{"accuracy": float, "per_class": (K,) tensor, "confusion": (K, K) tensor}`` where
        ``confusion[i, j]`` counts samples asked to be digit i that the classifier calls j.
    """
    per_class = positive_int("per_class", per_class)
    k = model.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)  # (K * per_class,)
    images = model.sample(labels, generator=torch.Generator().manual_seed(seed))
    pred = _predict(classifier, images)
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((labels, pred.cpu()), torch.ones_like(labels), accumulate=True)
    per = confusion.diag().float() / per_class
    return {"accuracy": float(per.mean()), "per_class": per, "confusion": confusion}


@torch.no_grad()
def classifier_confidence(classifier: torch.nn.Module, images: torch.Tensor, *, threshold: float = 0.9,
                          batch_size: int = 1000) -> dict[str, float]:
    """How sure a digit classifier trained on real digits is about generated ones.

    Args:
        classifier: images (B, C, H, W) -> class logits (B, K).
        images: generated images in [0, 1], (N, C, H, W).
        threshold: the confidence above which an image counts as recognised.

    Returns:
        ``{"confidence": mean top-class probability, "recognised": share above threshold}``.
    """
    classifier.eval()
    device = next(classifier.parameters()).device
    top = torch.cat([torch.softmax(classifier(images[sl].to(device)), dim=1).max(dim=1).values.cpu()
                     for sl in batch_slices(images.shape[0], batch_size)])
    return {"confidence": float(top.mean()), "recognised": float((top > threshold).float().mean())}
