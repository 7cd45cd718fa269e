"""Priors p(z) for the VAE: the standard normal, a learned mixture of Gaussians, the VampPrior.

Each prior is a small ``nn.Module`` with the same two methods:

- ``log_prob(z)``: codes (..., D) -> log p(z) in nats, shape (...), summed over the D latent dims;
- ``sample(n, generator=None)``: n codes (n, D) on the prior's device.

and a ``spec`` dict, the plain data that rebuilds it with :func:`make_prior` (a checkpoint stores
it in the model's ``config``). A learned prior is trained with the rest of the VAE: its parameters
are the model's parameters, and the ELBO's KL term, which has no closed form any more, is estimated
at the sampled code (see :func:`vaelib.losses.elbo`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import integer, positive_int
from .losses import log_normal_diagonal

__all__ = ["StandardNormalPrior", "MixturePrior", "VampPrior", "make_prior", "PRIOR_KINDS"]

PRIOR_KINDS = ("standard", "mixture", "vamp")


def _check_count(components: int, what: str) -> int:
    return integer("components", components, at_least=1,
                   advice=f"A {what} needs at least 1 (10, one per digit class, is a good start).")


def _check_z(z: torch.Tensor, latent_dim: int) -> None:
    if z.dim() < 1 or z.shape[-1] != latent_dim:
        raise ValueError(f"Expected codes of shape (..., {latent_dim}), got {tuple(z.shape)}.")


def _mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                      log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; m_k, diag exp(v_k)): z (..., D), means/logvars (K, D), log_weights (K,) -> (...)."""
    per_component = log_normal_diagonal(z.unsqueeze(-2), means, logvars)  # (..., 1, D) vs (K, D) -> (..., K)
    return torch.logsumexp(per_component + log_weights, dim=-1)


def _mixture_sample(n: int, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
    # Draws on the CPU when a generator is given (generators are per device), then moves.
    gen_device = "cpu" if generator is not None else means.device
    k = torch.multinomial(log_weights.detach().softmax(0).to(gen_device), n, replacement=True,
                          generator=generator).to(means.device)  # (n,) component of each draw
    eps = torch.randn(n, means.shape[1], generator=generator, device=gen_device).to(means.device)
    return means[k] + torch.exp(0.5 * logvars[k]) * eps  # (n, D)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I), the VAE's usual prior; no parameters.

    Args:
        latent_dim: D, the size of z.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = integer("latent_dim", latent_dim, at_least=1)
        self.spec = {"kind": "standard"}
        # Not saved (persistent=False): only tells sample() which device the model is on.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) in nats: (..., D) -> (...)."""
        _check_z(z, self.latent_dim)
        return log_normal_diagonal(z, torch.zeros_like(z), torch.zeros_like(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D) from N(0, I), on the prior's device."""
        device = self._anchor.device
        return torch.randn(positive_int("n", n), self.latent_dim, generator=generator,
                           device="cpu" if generator is not None else device).to(device)


class MixturePrior(nn.Module):
    """A learned mixture of K diagonal Gaussians: p(z) = sum_k w_k N(z; m_k, diag exp(v_k)).

    Means, log-variances and mixture weights (as logits) are all trained. The means start spread
    over N(0, I) and the variances at 1, so before training the prior is close to the standard one.

    Args:
        latent_dim: D, the size of z.
        components: K, the number of Gaussians (at least 1).
        seed: seeds the initial means (the global generator is left alone).
    """

    def __init__(self, latent_dim: int, components: int = 10, *, seed: int = 0):
        super().__init__()
        components = _check_count(components, "mixture prior")
        self.latent_dim = integer("latent_dim", latent_dim, at_least=1)
        self.spec = {"kind": "mixture", "components": components}
        gen = torch.Generator().manual_seed(seed)
        self.means = nn.Parameter(torch.randn(components, self.latent_dim, generator=gen))
        self.logvars = nn.Parameter(torch.zeros(components, self.latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) in nats: (..., D) -> (...)."""
        _check_z(z, self.latent_dim)
        return _mixture_log_prob(z, self.means, self.logvars, self.logits.log_softmax(0))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D): a component by its weight, then a draw from that Gaussian."""
        return _mixture_sample(positive_int("n", n), self.means, self.logvars, self.logits, generator)


class VampPrior(nn.Module):
    """The VampPrior (Tomczak and Welling 2018): p(z) = 1/K sum_k q(z | u_k).

    A mixture of the encoder's own posteriors at K learned *pseudo-inputs* u_k, images that are
    trained with the model. The prior needs the VAE's encoder; :class:`~vaelib.models.VAE` hands
    it over when it is built (it is not stored twice: the encoder's weights belong to the VAE).
    Pseudo-inputs are kept in [0, 1] as ``sigmoid`` of free parameters.

    Args:
        latent_dim: D, the size of z.
        components: K, the number of pseudo-inputs (at least 1).
        image_shape: (C, H, W) of a pseudo-input, the images' shape.
        seed: seeds the initial pseudo-inputs (grey images with a little noise).
    """

    def __init__(self, latent_dim: int, components: int = 100, *,
                 image_shape: Sequence[int] = (1, 28, 28), seed: int = 0):
        super().__init__()
        components = _check_count(components, "VampPrior")
        self.latent_dim = integer("latent_dim", latent_dim, at_least=1)
        self.spec = {"kind": "vamp", "components": components}
        gen = torch.Generator().manual_seed(seed)
        # sigmoid(-2 + noise) ~ 0.12: faint grey images, near the mean of MNIST's pixels
        self.pseudo_logits = nn.Parameter(-2.0 + 0.5 * torch.randn(components, *image_shape, generator=gen))
        self.__dict__["_encoder"] = None  # set by attach(); a plain attribute, not a submodule

    def attach(self, encoder: nn.Module) -> None:
        """Use ``encoder`` (images -> ``2 * latent_dim`` numbers: mean, log-variance) for q(z|u)."""
        self.__dict__["_encoder"] = encoder

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs as images in [0, 1], (K, C, H, W)."""
        return torch.sigmoid(self.pseudo_logits)

    def components_(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, logvars) of q(z|u_k), each (K, D)."""
        if self._encoder is None:
            raise RuntimeError("This VampPrior has no encoder: build it through vaelib.VAE(prior=...) "
                               "or call prior.attach(vae.encoder) first.")
        mu, logvar = self._encoder(self.pseudo_inputs()).chunk(2, dim=1)  # (K, 2D) -> 2 x (K, D)
        return mu, logvar

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) in nats: (..., D) -> (...)."""
        _check_z(z, self.latent_dim)
        mu, logvar = self.components_()
        uniform = torch.full((mu.shape[0],), -math.log(mu.shape[0]), device=z.device, dtype=z.dtype)
        return _mixture_log_prob(z, mu, logvar, uniform)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D): a pseudo-input uniformly, then a draw from the encoder's q(z|u)."""
        mu, logvar = self.components_()
        return _mixture_sample(positive_int("n", n), mu, logvar, torch.zeros(mu.shape[0], device=mu.device), generator)


def make_prior(spec: str | dict | None, latent_dim: int, *,
               image_shape: Sequence[int] = (1, 28, 28)) -> nn.Module:
    """Build a prior from its spec.

    Args:
        spec: ``None`` or ``"standard"`` (N(0, I)); ``"mixture"`` or ``"vamp"`` (default number of
            components); or a dict ``{"kind": ..., "components": K, "seed": s}``.
        latent_dim: D.
        image_shape: the images' (C, H, W), for the VampPrior's pseudo-inputs.

    Returns:
        The prior module, with ``spec`` set.

    Raises:
        ValueError: an unknown kind or a number of components below 1.
    """
    if spec is None:
        spec = {"kind": "standard"}
    elif isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict) or spec.get("kind") not in PRIOR_KINDS:
        raise ValueError(f"prior={spec!r} is unknown; use one of {PRIOR_KINDS}, or a dict such as "
                         "{'kind': 'mixture', 'components': 10}.")
    options = {k: v for k, v in spec.items() if k != "kind"}
    unknown = set(options) - {"components", "seed"}
    if unknown or (spec["kind"] == "standard" and options):
        raise ValueError(f"prior spec {spec!r} has options this kind does not take: "
                         f"{sorted(unknown or options)}.")
    if spec["kind"] == "standard":
        return StandardNormalPrior(latent_dim)
    if spec["kind"] == "mixture":
        prior = MixturePrior(latent_dim, **options)
    else:
        prior = VampPrior(latent_dim, image_shape=image_shape, **options)
    prior.spec = {**prior.spec, **({"seed": options["seed"]} if "seed" in options else {})}
    return prior
