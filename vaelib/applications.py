"""Using a trained VAE: a digit classifier that grades generated digits, the conditional bound
log p(x|y), anomaly scores with ROC curves and AUROC, and a linear probe on latent features.

Conventions as elsewhere: images (N, C, H, W) in [0, 1], labels (N,) int64 class indices,
log-likelihoods and scores in nats per example. Scores are "higher = more anomalous".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .losses import bernoulli_log_likelihood, log_normal_diagonal
from .runtime import seed_everything
from .train import History, fit

__all__ = [
    "DigitClassifier",
    "train_classifier",
    "accuracy",
    "generated_digit_accuracy",
    "conditional_log_likelihood",
    "anomaly_scores",
    "roc_curve",
    "auroc",
    "linear_probe_accuracy",
]

SCORES = ("elbo", "importance", "reconstruction")


# --------------------------------------------------------------------------- the digit classifier

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
        sizes = [math.prod(image_shape), *(int(h) for h in hidden)]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.net = nn.Sequential(*layers)
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
        out = [body(x[i:i + batch_size].to(device).flatten(start_dim=1)).cpu()
               for i in range(0, x.shape[0], batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes (N,) on the CPU, in eval mode."""
        self.eval()
        device = next(self.parameters()).device
        out = [self(x[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, x.shape[0], batch_size)]
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
    seed_everything(seed)
    model = DigitClassifier(hidden=hidden, image_shape=tuple(x.shape[1:]),
                            num_classes=int(y.max()) + 1).to(x.device)

    def augment(xb: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(xb) if torch.rand(()) < 0.5 else xb

    history = fit(model, _cross_entropy, x, y=y.long(), steps=steps, lr=lr, batch_size=batch_size,
                  transform=augment, seed=seed, progress=progress, desc="digit classifier")
    return model.eval(), history


def accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``classifier`` labels as ``y``."""
    pred = classifier.predict(x) if hasattr(classifier, "predict") else classifier(x).argmax(1).cpu()
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
    if per_class < 1:
        raise ValueError(f"per_class must be a positive number of samples, got {per_class}.")
    k = model.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)  # (K * per_class,)
    images = model.sample(labels, generator=torch.Generator().manual_seed(seed))
    pred = classifier.predict(images) if hasattr(classifier, "predict") else classifier(images).argmax(1).cpu()
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((labels, pred.cpu()), torch.ones_like(labels), accumulate=True)
    per = confusion.diag().float() / per_class
    return {"accuracy": float(per.mean()), "per_class": per, "confusion": confusion}


# ------------------------------------------------------------------- the conditional bound

@torch.no_grad()
def conditional_log_likelihood(model, x: torch.Tensor, y: torch.Tensor, *, samples: int = 1,
                               batch_size: int = 100, seed: int | None = 0) -> torch.Tensor:
    """Importance-sampled lower bound on log p(x | y) under a conditional VAE.

    ``logsumexp_k [log p(x|z_k,y) + log p(z_k) - log q(z_k|x,y)] - log K`` with z_k ~ q(z|x,y);
    ``samples=1`` is the conditional ELBO.

    Args:
        model: a :class:`~vaelib.models.ConditionalVAE`.
        x: binary images (N, C, H, W).
        y: labels (N,).
        samples: K.
        batch_size: images per pass (K samples each).
        seed: seeds the draws.

    Returns:
        Nats per example, shape (N,), on the CPU.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {y.shape[0]} labels.")
    model.eval()
    device = next(model.parameters()).device
    gen = None if seed is None else torch.Generator(device=device).manual_seed(seed)
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        b = xb.shape[0]
        mu, logvar = model.encode(xb, yb)  # (b, D)
        eps = torch.randn((samples, *mu.shape), generator=gen, device=device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (K, b, D)
        logits = model.decode(z.reshape(samples * b, -1), yb.repeat(samples))  # (K*b, C, H, W)
        x_rep = xb.expand(samples, *xb.shape).reshape(samples * b, *xb.shape[1:])
        log_px = bernoulli_log_likelihood(logits, x_rep).reshape(samples, b)
        log_w = log_px + log_normal_diagonal(z, torch.zeros_like(z), torch.zeros_like(z)) \
            - log_normal_diagonal(z, mu, logvar)  # (K, b)
        out.append((torch.logsumexp(log_w, dim=0) - math.log(samples)).cpu())
    return torch.cat(out)


# ------------------------------------------------------------------- anomaly scores and ROC

@torch.no_grad()
def anomaly_scores(model, x: torch.Tensor, *, score: str = "elbo", samples: int = 100,
                   batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """Per-example anomaly scores (higher = more unusual), in nats per example.

    Args:
        model: a VAE for ``"elbo"`` and ``"importance"``; a VAE or an autoencoder for
            ``"reconstruction"``.
        x: binary images (N, C, H, W).
        score: ``"elbo"``: the negative ELBO, one sample; ``"importance"``: the negative
            importance-sampled log-likelihood with ``samples`` samples; ``"reconstruction"``: the
            Bernoulli reconstruction error -log p(x | z) at the code (the posterior mean for a VAE),
            which for an autoencoder is its training loss per image.
        samples: K for ``"importance"``.

    Returns:
        Scores, shape (N,), on the CPU.
    """
    from .evaluate import evaluate_elbo, importance_log_likelihood  # the VAE's own estimators

    if score not in SCORES:
        raise ValueError(f"score={score!r} is unknown; use one of {SCORES}.")
    model.eval()
    if score == "elbo":
        return -evaluate_elbo(model, x, per_example=True, seed=seed, batch_size=batch_size)["elbo"]
    if score == "importance":
        return -importance_log_likelihood(model, x, samples=samples, seed=seed)
    device = next(model.parameters()).device
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].to(device)
        code = model.encode(xb)
        z = code[0] if isinstance(code, (tuple, list)) else code  # a VAE's mean, or an AE's code
        out.append(-bernoulli_log_likelihood(model.decode(z), xb).cpu())
    return torch.cat(out)


def _as_numpy(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = scores.detach().cpu().double().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores, float)
    t = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    s, t = s.reshape(-1), t.reshape(-1).astype(bool)
    if s.shape != t.shape:
        raise ValueError(f"{s.size} scores but {t.size} labels; give one is-anomaly flag per score.")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or Inf; check the model's outputs first.")
    if t.all() or not t.any():
        raise ValueError("ROC needs both classes: some examples flagged anomalous (True) and some normal.")
    return s, t


def roc_curve(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of a score that should be higher for anomalies.

    Args:
        scores: (N,) numbers, higher = more anomalous.
        is_anomaly: (N,) booleans (or 0/1), the truth.

    Returns:
        ``(fpr, tpr, thresholds)``: numpy arrays from (0, 0) to (1, 1); point i flags every example
        with ``score >= thresholds[i]`` (the first threshold is +inf, nothing flagged). Tied scores
        form one step, so the curve's area is :func:`auroc`.
    """
    s, t = _as_numpy(scores, is_anomaly)
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # flag all tied scores at once
    tp = np.cumsum(t)[last_of_tie]
    fp = np.cumsum(~t)[last_of_tie]
    tpr = np.r_[0.0, tp / t.sum()]
    fpr = np.r_[0.0, fp / (~t).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auroc(scores, is_anomaly) -> float:
    """Area under the ROC curve, by the rank statistic (Mann–Whitney U).

    AUROC = P(score of a random anomaly > score of a random normal example), ties counting one
    half: 1 is a perfect ranking, 0.5 a coin.

    Args:
        scores: (N,) numbers, higher = more anomalous.
        is_anomaly: (N,) booleans (or 0/1).

    Returns:
        A float in [0, 1].
    """
    s, t = _as_numpy(scores, is_anomaly)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average 1-based ranks over groups of tied scores: that is how ties count one half
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# ------------------------------------------------------------------- a linear probe

def linear_probe_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor,
                          test_features: torch.Tensor, test_labels: torch.Tensor, *,
                          steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-3,
                          seed: int = 0) -> float:
    """Train multinomial logistic regression on (few) labelled features; return test accuracy.

    The features are standardised with the training set's mean and standard deviation, so latent
    means and raw pixels get the same treatment; training is full-batch Adam with L2 weight decay.

    Args:
        train_features: (n, F) features of the labelled examples.
        train_labels: (n,) their labels.
        test_features, test_labels: the held-out set.
        steps, lr, weight_decay: the optimiser.

    Returns:
        Test accuracy in [0, 1].
    """
    xtr = train_features.detach().float().flatten(1).cpu()
    xte = test_features.detach().float().flatten(1).cpu()
    ytr, yte = train_labels.cpu().long(), test_labels.cpu().long()
    if xtr.shape[0] != ytr.shape[0] or xte.shape[0] != yte.shape[0]:
        raise ValueError("give one label per feature row, for both the training and the test set.")
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False) + 1e-3  # +1e-3: constant pixels stay finite
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    gen = torch.Generator().manual_seed(seed)
    classes = int(max(ytr.max(), yte.max())) + 1
    linear = nn.Linear(xtr.shape[1], classes)
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.01, generator=gen)
        linear.bias.zero_()
    opt = torch.optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(linear(xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        return float((linear(xte).argmax(1) == yte).float().mean())

