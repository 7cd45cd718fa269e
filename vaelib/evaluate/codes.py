"""What do the codes hold? Encoder means, active units, and a linear probe on features.

Codes are the encoder's means, computed in batches without gradients (:func:`encode_means`);
the other functions here read them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import batch_slices, number

__all__ = ["encode_means", "active_units", "linear_probe_accuracy", "far_from_data"]


@torch.no_grad()
def encode_means(model, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The encoder's means for every image, in batches, without gradients.

    Args:
        model: anything with ``encode(x)`` returning ``(mu, logvar)`` (a VAE) or a code tensor
            (an autoencoder).
        x: images (N, C, H, W) on any device; moved batch by batch to the model's device.
        batch_size: images per forward pass.

    Returns:
        (N, latent_dim) float tensor on the CPU. The model's train/eval mode is restored after.
    """
    if not hasattr(model, "encode"):
        raise ValueError(f"{type(model).__name__} has no encode(x) method; pass a VAE or an autoencoder.")
    param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = param.device if param is not None else x.device
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()  # dropout / batch norm in inference mode: the means must not be noisy
    try:
        out = []
        for sl in batch_slices(x.shape[0], batch_size):
            code = model.encode(x[sl].to(device))
            mu = code[0] if isinstance(code, (tuple, list)) else code
            out.append(mu.detach().float().cpu())
    finally:
        if was_training:
            model.train()
    if not out:
        raise ValueError("x holds no images.")
    return torch.cat(out)


def active_units(model, x: torch.Tensor, *, threshold: float = 0.01,
                 batch_size: int = 1000) -> tuple[int, torch.Tensor]:
    """Count the latent dimensions the encoder actually uses (Burda et al. 2016).

    Dimension i is active when Var_x( E_q[z_i | x] ) > ``threshold``: its posterior mean moves
    with the input. An inactive dimension has collapsed onto the prior.

    Returns:
        ``(count, variances)`` with ``variances`` of shape (latent_dim,).
    """
    variances = encode_means(model, x, batch_size=batch_size).var(dim=0)
    model.eval()
    return int((variances > threshold).sum()), variances


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


@torch.no_grad()
def far_from_data(z_query: torch.Tensor, z_train: torch.Tensor, z_test: torch.Tensor, *,
                  quantile: float = 0.95, batch_size: int = 2000) -> tuple[torch.Tensor, float]:
    """Chapter 1's measure of holes: which codes lie farther from every training code than
    ``quantile`` of the test codes do.

    A test image's code is typically this close to some training code; a query code (e.g. a draw
    from the prior) beyond that distance sits where the decoder was never trained.

    Args:
        z_query: codes to test, (M, D).
        z_train: codes of the training images, (N, D).
        z_test: codes of held-out images, (T, D), which set the threshold.
        quantile: in (0, 1); 0.95 means "farther than 95% of test codes are".
        batch_size: query rows per distance computation (memory bound).

    Returns:
        ``(far, threshold)``: a bool tensor (M,) on the CPU, and the distance threshold.
    """
    quantile = number("quantile", quantile, above=0, below=1)
    for name, z in (("z_query", z_query), ("z_train", z_train), ("z_test", z_test)):
        if z.dim() != 2 or z.shape[1] != z_train.shape[-1] or z.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (N, D) tensor with the same D as z_train, "
                             f"got {tuple(z.shape)}.")
    z_train = z_train.float().cpu()

    def nearest(z: torch.Tensor) -> torch.Tensor:
        z = z.float().cpu()
        return torch.cat([torch.cdist(z[sl], z_train).min(dim=1).values
                          for sl in batch_slices(z.shape[0], batch_size)])

    threshold = nearest(z_test).quantile(quantile).item()
    return nearest(z_query) > threshold, threshold
