"""The VAE objective, term by term.

Reduction convention, used everywhere in the course: every function here returns **nats per
example**, that is one number per row of the batch, *summed* over pixels and over latent
dimensions. :func:`elbo` then *averages* over the batch. Summing over dimensions is what makes the
terms log-densities; it also fixes the meaning of ``beta``: with a per-pixel *mean* instead, the
reconstruction term shrinks 784-fold and a "β = 1" model is really a β = 784 model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "kl_standard_normal",
    "kl_standard_normal_per_dim",
    "kl_diagonal_gaussians",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "log_normal_diagonal",
    "check_unit_interval",
    "ElboTerms",
    "elbo",
    "elbo_per_example",
    "conditional_elbo",
]

LOG_2PI = math.log(2 * math.pi)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)  # (B, ...) -> (B, D)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag exp(logvar)) || N(0, I) ) in closed form.

    Kingma & Welling (2014), Appendix B: ``-1/2 * sum(1 + logvar - mu^2 - exp(logvar))``.

    Args:
        mu: means, shape (B, D).
        logvar: log-variances, shape (B, D).

    Returns:
        Nats per example, shape (B,), summed over the D latent dimensions.
    """
    return kl_standard_normal_per_dim(mu, logvar).sum(dim=1)


def kl_standard_normal_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The same KL, one value per latent dimension: shape (B, D), nats."""
    _same_shape(mu, logvar, "mu", "logvar")
    return 0.5 * _flat(mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_diagonal_gaussians(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL( N(mu_q, diag exp(logvar_q)) || N(mu_p, diag exp(logvar_p)) ) in closed form.

    Per dimension: ``1/2 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1)``.

    Args:
        mu_q, logvar_q: the first Gaussian, shape (B, D).
        mu_p, logvar_p: the second Gaussian, shape (B, D) or broadcastable to it.

    Returns:
        Nats per example, shape (B,).
    """
    _same_shape(mu_q, logvar_q, "mu_q", "logvar_q")
    mu_p, logvar_p = torch.broadcast_tensors(mu_p, logvar_p)
    try:
        torch.broadcast_shapes(mu_q.shape, mu_p.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mu_p/logvar_p of shape {tuple(mu_p.shape)} do not broadcast to {tuple(mu_q.shape)}."
        ) from err
    per_dim = 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0
    )
    return _flat(per_dim.expand_as(mu_q)).sum(dim=1)


def check_unit_interval(x: torch.Tensor, name: str = "x") -> None:
    """Raise a clear error when ``x`` holds values outside [0, 1] (or NaN)."""
    if x.numel() == 0:
        return
    lo, hi = torch.aminmax(x.detach())
    if not (lo >= 0 and hi <= 1):  # also catches NaN, for which every comparison is False
        raise ValueError(
            f"A Bernoulli log-likelihood needs {name} in [0, 1], but it ranges over "
            f"[{lo.item():.4g}, {hi.item():.4g}]. Divide grey levels 0-255 by 255, and undo any "
            "normalisation such as transforms.Normalize before computing the loss."
        )


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for independent Bernoulli pixels whose probabilities are ``sigmoid(logits)``.

    For binary ``x`` this is a log-probability. For grey levels in [0, 1] it is still computable
    (and often used as a loss), but it is then *not* a log-likelihood of the data.

    Args:
        logits: decoder outputs, shape (B, ...).
        x: targets in [0, 1], the same shape.

    Returns:
        Nats per example, shape (B,), summed over pixels (always <= 0 for binary x).

    Raises:
        ValueError: shapes differ or ``x`` leaves [0, 1].
    """
    _same_shape(logits, x, "logits", "x")
    check_unit_interval(x)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -_flat(bce).sum(dim=1)


def gaussian_log_likelihood(
    mean: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """log N(x; mean, sigma^2 I), summed over pixels.

    With a fixed sigma this is ``-||x - mean||^2 / (2 sigma^2)`` plus a constant: MSE is a
    Gaussian log-likelihood with the constant and the 1/(2 sigma^2) weight dropped.

    Args:
        mean: decoder means, shape (B, ...).
        x: targets, the same shape.
        log_sigma: log standard deviation, a float or a tensor broadcastable to ``x``.

    Returns:
        Nats per example, shape (B,).
    """
    _same_shape(mean, x, "mean", "x")
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device)
    per_pixel = -0.5 * LOG_2PI - log_sigma - 0.5 * (x - mean).pow(2) * torch.exp(-2.0 * log_sigma)
    return _flat(per_pixel.expand_as(x)).sum(dim=1)


def log_normal_diagonal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension.

    Args:
        z, mu, logvar: broadcastable tensors whose last dimension is the latent size D.

    Returns:
        The log-density with the last dimension summed out.
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


@dataclass
class ElboTerms:
    """The ELBO's pieces for one batch, each a scalar in nats per example (batch mean).

    Attributes:
        loss: what the optimizer minimises: ``-(reconstruction - beta * kl)``.
        reconstruction: E_q[log p(x|z)], one-sample estimate.
        kl: KL(q(z|x) || p(z)), closed form (one-sample estimate for a learned prior).
        elbo: ``reconstruction - kl`` (the bound itself, whatever beta is).
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    elbo: torch.Tensor

    def as_dict(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in vars(self).items()}


def elbo_per_example(model, x: torch.Tensor, y: torch.Tensor | None = None, *,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ELBO's two terms for every example of a batch, from one reparameterized sample of z.

    The one place where the course's bound is computed: :func:`elbo`, :func:`conditional_elbo`
    and :func:`vaelib.evaluate.evaluate_elbo` all call it.

    Args:
        model: a :class:`~vaelib.models.VAE` or, with ``y``, a
            :class:`~vaelib.models.ConditionalVAE` (``encode``, ``reparameterize``, ``decode`` and
            ``log_likelihood``).
        x: a batch, (B, C, H, W).
        y: class indices (B,) for a conditional model; ``None`` otherwise.
        generator: the source of the sampling noise; ``None``: PyTorch's global one.

    Returns:
        ``(reconstruction, kl_per_dim)``: E_q[log p(x|z)] as a one-sample estimate, shape (B,),
        and KL(q(z|x) || p(z)) of each latent dimension, shape (B, D) (for a learned prior, which has
        no closed form, a one-sample estimate of the total, shape (B, 1)); both in nats.
    """
    condition = () if y is None else (y,)
    mu, logvar = model.encode(x, *condition)
    z = model.reparameterize(mu, logvar, generator=generator)
    reconstruction = model.log_likelihood(model.decode(z, *condition), x)
    if getattr(model, "has_standard_prior", True):
        kl_per_dim = kl_standard_normal_per_dim(mu, logvar)  # (B, D): closed form
    else:  # a learned prior has no closed form: one-sample estimate log q(z|x) - log p(z), (B, 1)
        kl_per_dim = (log_normal_diagonal(z, mu, logvar) - model.log_prior(z)).unsqueeze(1)
    return reconstruction, kl_per_dim


def elbo(model, x: torch.Tensor, *, beta: float = 1.0, kl_weight: float = 1.0,
         free_bits: float = 0.0) -> ElboTerms:
    """The (β-weighted) ELBO of a batch, with its terms.

    Per example: ``ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z))``, one reparameterized sample of z,
    summed over pixels and latent dimensions; then averaged over the batch.

    Args:
        model: a :class:`~vaelib.models.VAE` (anything with ``encode``, ``reparameterize``,
            ``decode`` and ``log_likelihood``).
        x: a batch, shape (B, C, H, W); in [0, 1] for a Bernoulli likelihood.
        beta: weight of the KL term in the loss (β-VAE; 1 is the true ELBO).
        kl_weight: an extra factor for KL warm-up schedules; multiplies beta.
        free_bits: nats per latent dimension below which the batch-averaged KL of that dimension
            is not penalised (Kingma et al. 2016); 0 turns it off.

    Returns:
        :class:`ElboTerms`, each a scalar tensor in nats per example.
    """
    if free_bits > 0 and not getattr(model, "has_standard_prior", True):
        raise ValueError("free_bits needs the per-dimension KL of the standard normal prior; "
                         "train a model with a learned prior with free_bits=0.")
    return _batch_terms(*elbo_per_example(model, x), beta, kl_weight, free_bits)


def _batch_terms(reconstruction: torch.Tensor, kl_per_dim: torch.Tensor, beta: float,
                 kl_weight: float, free_bits: float) -> ElboTerms:
    """Batch means of the per-example terms, and the loss with β, the KL weight and free bits."""
    rec = reconstruction.mean()
    kl = kl_per_dim.sum(dim=1).mean()
    if free_bits > 0:
        penalised = torch.clamp(kl_per_dim.mean(dim=0), min=free_bits).sum()
    else:
        penalised = kl
    loss = -(rec - beta * kl_weight * penalised)
    return ElboTerms(loss=loss, reconstruction=rec, kl=kl, elbo=rec - kl)


def _same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; "
            "they must match (flatten or reshape one of them first)."
        )


def conditional_elbo(model, x: torch.Tensor, y: torch.Tensor, *, beta: float = 1.0,
                     kl_weight: float = 1.0, free_bits: float = 0.0) -> ElboTerms:
    """The conditional ELBO of a labelled batch: a lower bound on log p(x | y).

    Per example: ``E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z))``, one reparameterized sample,
    summed over pixels and latent dimensions, averaged over the batch; the same reduction and the
    same arguments as :func:`elbo`, so ``vaelib.fit(model, conditional_elbo, x, y=y, ...)`` trains a
    :class:`~vaelib.models.ConditionalVAE`.

    Args:
        model: a :class:`~vaelib.models.ConditionalVAE` (``encode(x, y)``, ``decode(z, y)``, ...).
        x: a batch, shape (B, C, H, W), in [0, 1].
        y: class indices, shape (B,).
        beta, kl_weight, free_bits: as in :func:`elbo`.

    Returns:
        :class:`ElboTerms`, each a scalar tensor in nats per example.
    """
    return _batch_terms(*elbo_per_example(model, x, y), beta, kl_weight, free_bits)
