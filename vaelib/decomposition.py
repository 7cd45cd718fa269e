"""Where the KL term goes: index-code mutual information, total correlation, dimension-wise KL.

Let the data index n be uniform over the N training examples and q(z, n) = q(z|x_n) / N. The
*aggregate posterior* is the mixture q(z) = (1/N) sum_n q(z|x_n), and q(z_j) its j-th marginal.
With a factorised prior p(z) = prod_j p(z_j), the average KL term of the ELBO splits exactly
(Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs", eq. 2):

    E_n KL(q(z|x_n) || p(z))
        = I_q(z; n)                          index-code mutual information  E[log q(z|n) - log q(z)]
        + KL(q(z) || prod_j q(z_j))          total correlation (TC)        E[log q(z) - sum_j log q(z_j)]
        + sum_j KL(q(z_j) || p(z_j))         dimension-wise KL             E[sum_j log q(z_j) - log p(z)]

the expectations being over (z, n) ~ q(z, n). Each term is in nats per example. β-TCVAE weights
only the TC by β; FactorVAE (Kim & Mnih 2018) penalises the same TC with a discriminator instead.

log q(z) needs the whole data set. On a minibatch of M examples it is estimated from the M
posteriors at hand (:func:`kl_decomposition`):

- ``"mws"``, minibatch-weighted sampling, as published (Chen et al. 2018, Sec. 4.1):
  log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N M), and the same per dimension for q(z_ij).
  That is log of the batch's own mixture (1/M) sum_j q(z_i|x_j), minus log N. So its three terms
  are those of the batch taken as the whole data set, shifted by the constants +log N (MI),
  +(D - 1) log N (TC) and -D log N (DWKL). As nats they are far off (in expectation the TC of
  any code comes out above (D - 1) log N, as the batch's own TC is not negative), but a constant
  shift leaves the gradient alone: it is the gradient of the batch's own TC.
- ``"mss"``, stratified: the sample's own posterior gets its exact weight 1/N, and the other M - 1
  share the rest, (N - 1) / (N (M - 1)) each. For batches drawn without replacement (as
  :func:`vaelib.fit` draws them) this density estimate is unbiased for q(z_i); its logarithm is
  biased low only by Jensen's inequality, which vanishes as M grows, and at M = N it is exact.
  This is the idea of the minibatch-stratified sampling of Chen et al. (Appendix C.2) with a
  simpler stratification.

:func:`exact_kl_decomposition` computes the three terms for a small data set with the full mixture,
as the reference the estimators are tested against. :func:`beta_tc_elbo` is the β-TCVAE loss for
:func:`vaelib.fit`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from .losses import LOG_2PI, ElboTerms, kl_standard_normal

__all__ = ["ESTIMATORS", "kl_decomposition", "exact_kl_decomposition", "beta_tc_elbo",
           "TCElboTerms"]

ESTIMATORS = ("mss", "mws")


# ------------------------------------------------------------------------------ checks


def _check_codes(named: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Same-shape (M, D) floating tensors with no NaN or Inf: returns (M, D)."""
    shapes = {name: tuple(t.shape) if isinstance(t, torch.Tensor) else None for name, t in named.items()}
    if any(s is None for s in shapes.values()):
        bad = [n for n, s in shapes.items() if s is None]
        raise ValueError(f"{', '.join(bad)} must be tensors of shape (batch, latent_dim).")
    if len(set(shapes.values())) != 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{listed}: these must all have the same shape (batch, latent_dim), one "
                         "row per example, as the encoder returns mu and logvar.")
    shape = next(iter(shapes.values()))
    if len(shape) != 2:
        raise ValueError(f"expected tensors of shape (batch, latent_dim), got {shape}; flatten "
                         "any extra dimensions first.")
    for name, t in named.items():
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}.")
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"{name} holds NaN or Inf: check the inputs, or the encoder (a run "
                             "that diverged), before estimating the decomposition.")
    return shape


def _check_dataset_size(dataset_size, batch: int) -> int:
    if isinstance(dataset_size, bool) or not isinstance(dataset_size, numbers.Integral):
        raise ValueError(f"dataset_size must be the number of training examples, an integer, "
                         f"got {dataset_size!r}.")
    if dataset_size < batch:
        raise ValueError(f"dataset_size={dataset_size} is smaller than the batch of {batch}: it "
                         "must be the number of examples in the whole training set (len(x) as "
                         "passed to fit), not the batch size.")
    return int(dataset_size)


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta) \
            or not beta > 0:
        raise ValueError(f"beta must be a positive number (1 is the plain VAE), got {beta!r}.")
    return float(beta)


# ---------------------------------------------------------------- minibatch estimators


def _log_q_pairs(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i[d] | x_j) for every sample i, posterior j and dimension d: (M, D) -> (M, M, D)."""
    diff = z.unsqueeze(1) - mu.unsqueeze(0)  # (M, 1, D) - (1, M, D) -> (M, M, D)
    return -0.5 * (LOG_2PI + logvar.unsqueeze(0) + diff.pow(2) * torch.exp(-logvar.unsqueeze(0)))


def _log_weights(batch: int, dataset_size: int, estimator: str, like: torch.Tensor) -> torch.Tensor:
    """log of the weight of posterior j in the estimate of q(z_i): (M, M)."""
    m, n = batch, dataset_size
    if estimator == "mws":
        return torch.full((m, m), -math.log(n * m), dtype=like.dtype, device=like.device)
    other = math.log(n - 1) - math.log(n) - math.log(m - 1) if n > 1 else -math.inf
    w = torch.full((m, m), other, dtype=like.dtype, device=like.device)
    w.fill_diagonal_(-math.log(n))  # the sample's own posterior: exactly 1/N of the mixture
    return w


def _log_aggregate(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                   estimator: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Minibatch estimates at each sample: log q(z_i|x_i) (M,), log q(z_i) (M,), log q(z_ij) (M, D)."""
    pairs = _log_q_pairs(z, mu, logvar)  # (M, M, D)
    w = _log_weights(z.shape[0], dataset_size, estimator, z)  # (M, M)
    log_qz = torch.logsumexp(w + pairs.sum(dim=2), dim=1)  # (M, M) -> (M,)
    log_qz_marginals = torch.logsumexp(w.unsqueeze(2) + pairs, dim=1)  # (M, M, D) -> (M, D)
    log_qzx = torch.diagonal(pairs.sum(dim=2))  # (M,): each sample under its own posterior
    return log_qzx, log_qz, log_qz_marginals


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *,
                     dataset_size: int, estimator: str = "mss") -> dict[str, torch.Tensor]:
    """The KL term of a minibatch split into MI, total correlation and dimension-wise KL.

    For each example i of the batch, with z_i ~ q(z|x_i) and the prior N(0, I):

    - ``mi[i]   = log q(z_i|x_i) - log q(z_i)``
    - ``tc[i]   = log q(z_i) - sum_j log q(z_ij)``
    - ``dwkl[i] = sum_j log q(z_ij) - log p(z_i)``
    - ``kl[i]   = log q(z_i|x_i) - log p(z_i)``, the one-sample estimate of KL(q(z|x_i) || p(z))

    where log q(z_i) and log q(z_ij) are minibatch estimates of the aggregate posterior and its
    marginals over a training set of ``dataset_size`` examples (see the module's docstring for
    the two estimators). Whatever the estimator, ``mi + tc + dwkl == kl`` exactly: the estimators
    only decide how the one-sample KL is shared among the three terms. Batch means of the three
    terms estimate the three terms of Chen et al. (2018), eq. 2.

    Args:
        z: one sample per example from its posterior, (M, D), M >= 2.
        mu, logvar: the posteriors q(z|x_i) = N(mu_i, diag exp(logvar_i)), each (M, D).
        dataset_size: N, the number of examples in the training set the batch is drawn from
            (without replacement), N >= M.
        estimator: ``"mss"`` (stratified; consistent) or ``"mws"`` (minibatch-weighted
            sampling as published; biased, see the module's docstring).

    Returns:
        ``{"mi", "tc", "dwkl", "kl"}``, each (M,) in nats per example; differentiable with
        respect to ``z``, ``mu`` and ``logvar``.

    Raises:
        ValueError: shapes differ or are not (M, D), NaN or Inf inputs, fewer than 2 examples,
            ``dataset_size`` not an integer or smaller than the batch, unknown estimator.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is unknown; use one of {ESTIMATORS}.")
    batch, _ = _check_codes({"z": z, "mu": mu, "logvar": logvar})
    if batch < 2:
        raise ValueError(f"a batch of {batch} example cannot estimate the aggregate posterior "
                         "q(z), which needs the other examples' posteriors: use at least 2.")
    dataset_size = _check_dataset_size(dataset_size, batch)
    log_qzx, log_qz, log_qz_marginals = _log_aggregate(z, mu, logvar, dataset_size, estimator)
    log_prod = log_qz_marginals.sum(dim=1)  # (M,): log prod_j q(z_ij)
    log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(dim=1)  # (M,): log N(z_i; 0, I)
    return {"mi": log_qzx - log_qz, "tc": log_qz - log_prod, "dwkl": log_prod - log_pz,
            "kl": log_qzx - log_pz}


# ------------------------------------------------------------------ full-mixture reference


def _mixture_log_density(points: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                         rows: int) -> torch.Tensor:
    """log (1/N) sum_n N(points; mu_n, diag exp(logvar_n)) over the last dimension: (P, D) -> (P,).

    Computed ``rows`` points at a time, so memory stays at rows * N * D numbers.
    """
    n = mu.shape[0]
    out = []
    for start in range(0, points.shape[0], rows):
        p = points[start:start + rows].unsqueeze(1)  # (r, 1, D)
        log_pdf = -0.5 * (LOG_2PI + logvar + (p - mu).pow(2) * torch.exp(-logvar)).sum(dim=2)  # (r, N)
        out.append(torch.logsumexp(log_pdf, dim=1) - math.log(n))
    return torch.cat(out)


@torch.no_grad()
def exact_kl_decomposition(mu: torch.Tensor, logvar: torch.Tensor, *, samples: int = 256,
                           nodes: int = 64, seed: int | None = 0,
                           max_elements: int = 2**22) -> dict[str, float]:
    """The three terms for a small data set, with the full mixture q(z) = (1/N) sum_n q(z|x_n).

    The reference for the minibatch estimators. Computed in float64:

    - ``kl``: E_n KL(q(z|x_n) || N(0, I)), closed form (exact).
    - ``dwkl``: sum_j KL(q(z_j) || N(0, 1)), each a one-dimensional integral over the mixture
      marginal q(z_j): the cross-entropy term in closed form, E_q(z_j)[log q(z_j)] by
      Gauss-Hermite quadrature on each component (``nodes`` nodes; exact where log q(z_j) is
      quadratic over a component, i.e. identical or well-separated posteriors).
    - ``mi``, ``tc``: Monte Carlo, ``samples`` draws of z from every q(z|x_n) (so n is sampled
      exactly uniformly), each term averaged *per draw* as log q(z|x_n) - log q(z) and
      log q(z) - sum_j log q(z_j) with the full mixture. Paired like this, MI is exactly 0 when
      all posteriors are equal, exactly log N when they are far apart, and TC exactly 0 when q(z)
      factorises, whatever the number of samples.

    ``mi + tc + dwkl`` equals ``kl`` up to the Monte Carlo error (``sum_se``) and the quadrature
    error of ``dwkl``.

    Args:
        mu, logvar: the posteriors of all N examples, each (N, D).
        samples: draws of z per example.
        nodes: Gauss-Hermite nodes per component for the marginals.
        seed: seeds the draws; ``None`` uses PyTorch's global generator.
        max_elements: numbers held at once in the N-component densities (memory bound).

    Returns:
        ``{"mi", "tc", "dwkl", "kl"}`` in nats per example, and the Monte Carlo standard errors
        ``"mi_se"``, ``"tc_se"`` and ``"sum_se"`` (of mi + tc), as floats.

    Raises:
        ValueError: shapes differ or are not (N, D), NaN or Inf, or ``samples``/``nodes`` are not
            positive integers.
    """
    n, d = _check_codes({"mu": mu, "logvar": logvar})
    for name, value in (("samples", samples), ("nodes", nodes)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    mu, logvar = mu.detach().double().cpu(), logvar.detach().double().cpu()
    std = torch.exp(0.5 * logvar)
    rows = max(1, max_elements // (n * d))

    kl = float(kl_standard_normal(mu, logvar).mean())

    # Marginals: E_q(z_j)[log q(z_j)] = (1/N) sum_n E_N(mu_nj, s_nj)[log q(z_j)], each by Gauss-Hermite.
    t, w = np.polynomial.hermite.hermgauss(int(nodes))
    t = torch.from_numpy(t) * math.sqrt(2.0)  # nodes for a standard normal
    w = torch.from_numpy(w) / math.sqrt(math.pi)  # weights summing to 1
    dwkl = 0.0
    for j in range(d):
        points = (mu[:, j:j + 1] + std[:, j:j + 1] * t).reshape(-1, 1)  # (N, K) -> (N*K, 1)
        log_q = _mixture_log_density(points, mu[:, j:j + 1], logvar[:, j:j + 1], rows)
        neg_entropy = float((log_q.reshape(n, -1) @ w).mean())
        cross_entropy = 0.5 * LOG_2PI + 0.5 * float((mu[:, j].pow(2) + logvar[:, j].exp()).mean())
        dwkl += neg_entropy + cross_entropy

    # Joint: paired Monte Carlo with the full mixture.
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    eps = torch.randn(samples, n, d, generator=gen, dtype=torch.float64)
    z = (mu + std * eps).reshape(-1, d)  # (S, N, D) -> (S*N, D), example index fastest
    own_mu, own_logvar = mu.repeat(samples, 1), logvar.repeat(samples, 1)
    log_qzx = -0.5 * (LOG_2PI + own_logvar + (z - own_mu).pow(2) * torch.exp(-own_logvar)).sum(dim=1)
    log_qz = _mixture_log_density(z, mu, logvar, rows)
    log_prod = sum(_mixture_log_density(z[:, j:j + 1], mu[:, j:j + 1], logvar[:, j:j + 1], rows)
                   for j in range(d))
    mi_draws, tc_draws = log_qzx - log_qz, log_qz - log_prod

    def se(draws: torch.Tensor) -> float:
        return float(draws.std() / math.sqrt(draws.numel())) if draws.numel() > 1 else math.inf

    return {"mi": float(mi_draws.mean()), "tc": float(tc_draws.mean()), "dwkl": dwkl, "kl": kl,
            "mi_se": se(mi_draws), "tc_se": se(tc_draws), "sum_se": se(mi_draws + tc_draws)}


# ----------------------------------------------------------------------------- the loss


@dataclass
class TCElboTerms(ElboTerms):
    """:class:`~vaelib.losses.ElboTerms` plus the split of the KL term, batch means in nats.

    Attributes:
        mi, tc, dwkl: the batch means of :func:`kl_decomposition`'s terms; they sum to the
            one-sample KL estimate, whose expectation is ``kl``.
    """

    mi: torch.Tensor
    tc: torch.Tensor
    dwkl: torch.Tensor


def beta_tc_elbo(model, x: torch.Tensor, *, beta: float, dataset_size: int,
                 estimator: str = "mss") -> TCElboTerms:
    """The β-TCVAE loss of a batch (Chen et al. 2018): the ELBO with only the TC weighted by β.

    Per batch, in nats per example, with one reparameterized z per image:

        loss = -E_q[log p(x|z)] + KL(q(z|x) || p(z)) + (β - 1) * TC

    KL in closed form (as :func:`vaelib.elbo` computes it) and TC from :func:`kl_decomposition`.
    In expectation this is Chen et al.'s ``-rec + MI + β TC + DWKL``, whose three terms sum to
    the one-sample KL; the closed-form KL leaves out that sample's noise. With β = 1 the loss
    is exactly :func:`vaelib.elbo`'s for the same random state. Use it with :func:`vaelib.fit`
    as any loss: ``fit(model, lambda m, xb: beta_tc_elbo(m, xb, beta=6, dataset_size=len(x)),
    x, steps=...)``.

    Args:
        model: a :class:`~vaelib.models.VAE` with the standard normal prior.
        x: a batch of M >= 2 images, (M, C, H, W), in [0, 1] for a Bernoulli likelihood.
        beta: the weight of the total correlation, positive (1: the plain ELBO).
        dataset_size: N, the number of training examples the batches are drawn from.
        estimator: ``"mss"`` or ``"mws"``, see :func:`kl_decomposition`.

    Returns:
        :class:`TCElboTerms`: ``loss``, ``reconstruction``, ``kl`` (closed form), ``elbo``
        (``reconstruction - kl``, whatever β is), and ``mi``, ``tc``, ``dwkl``; scalars in nats
        per example (batch means).

    Raises:
        ValueError: ``beta`` not positive, ``dataset_size`` smaller than the batch, NaN in ``x``,
            a model with a learned prior, or the errors of :func:`kl_decomposition`.
    """
    beta = _check_beta(beta)
    if not getattr(model, "has_standard_prior", True):
        raise ValueError("beta_tc_elbo splits the KL against the factorised prior N(0, I); this "
                         "model has a learned prior, whose dimensions are not independent.")
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a batch of images, a tensor of shape (M, C, H, W).")
    _check_dataset_size(dataset_size, x.shape[0])
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError("x holds NaN or Inf; clean the data before training.")
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)  # the same draw as vaelib.elbo's, for the same state
    rec = model.log_likelihood(model.decode(z), x).mean()
    kl = kl_standard_normal(mu, logvar).mean()
    split = {k: v.mean() for k, v in kl_decomposition(z, mu, logvar, dataset_size=dataset_size,
                                                       estimator=estimator).items()}
    loss = -(rec - kl - (beta - 1.0) * split["tc"])
    return TCElboTerms(loss=loss, reconstruction=rec, kl=kl, elbo=rec - kl,
                       mi=split["mi"], tc=split["tc"], dwkl=split["dwkl"])
