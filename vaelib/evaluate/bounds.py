"""How good is a trained VAE? Test ELBO, importance-sampled log-likelihood, active units.

Every quantity is in nats per example unless its name says bits. All functions run in
memory-bounded batches without gradients and leave the model in eval mode.
"""

from __future__ import annotations

import math

import torch

from .losses import kl_standard_normal, log_normal_diagonal, reconstruction_log_likelihood

__all__ = ["evaluate_elbo", "importance_log_likelihood", "bits_per_dim", "active_units"]


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _generator_for(device: torch.device, seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def evaluate_elbo(model, x: torch.Tensor, *, batch_size: int = 1000, seed: int | None = 0,
                  per_example: bool = False) -> dict[str, float] | dict[str, torch.Tensor]:
    """The ELBO of ``x`` under ``model``, one reparameterized sample per example.

    Args:
        model: a VAE.
        x: data, (N, C, H, W), on any device (moved batch by batch to the model's).
        batch_size: examples per forward pass.
        seed: seeds the sampling noise so the number repeats; ``None`` uses the global generator.
        per_example: return tensors of shape (N,) instead of means.

    Returns:
        ``{"elbo", "reconstruction", "kl"}`` in nats per example (means, or per-example tensors).
    """
    model.eval()
    device = next(model.parameters()).device
    gen = _generator_for(device, seed)
    rec, kl = [], []
    for sl in _batches(x.shape[0], batch_size):
        xb = x[sl].to(device)
        mu, logvar = model.encode(xb)
        eps = torch.randn(mu.shape, generator=gen, device=device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec.append(reconstruction_log_likelihood(model, model.decode(z), xb))
        kl.append(kl_standard_normal(mu, logvar))
    rec_t, kl_t = torch.cat(rec).cpu(), torch.cat(kl).cpu()
    out = {"elbo": rec_t - kl_t, "reconstruction": rec_t, "kl": kl_t}
    return out if per_example else {k: float(v.mean()) for k, v in out.items()}


@torch.no_grad()
def importance_log_likelihood(model, x: torch.Tensor, *, samples: int = 1000,
                              batch_size: int = 100, max_elements: int = 2**24,
                              seed: int | None = 0) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) (Burda, Grosse & Salakhutdinov 2016).

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, with z_k ~ q(z|x).
    It is a lower bound on log p(x) in expectation, equal to the ELBO for K = 1 and tightening
    as K grows.

    Args:
        model: a VAE.
        x: data, (N, C, H, W).
        samples: K, the number of importance samples per example.
        batch_size: examples encoded together.
        max_elements: bound on decoded pixels held at once (samples x examples x pixels); the K
            samples are drawn in chunks that respect it.
        seed: seeds the sampling so the estimate repeats.

    Returns:
        Per-example estimates in nats, shape (N,), on the CPU.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    model.eval()
    device = next(model.parameters()).device
    gen = _generator_for(device, seed)
    pixels = math.prod(x.shape[1:])
    results = []
    for sl in _batches(x.shape[0], batch_size):
        xb = x[sl].to(device)
        b = xb.shape[0]
        mu, logvar = model.encode(xb)  # (b, D)
        chunk = max(1, min(samples, max_elements // max(1, b * pixels)))
        log_w = []
        for start in range(0, samples, chunk):
            k = min(chunk, samples - start)
            eps = torch.randn((k, *mu.shape), generator=gen, device=device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps  # (k, b, D)
            logits = model.decode(z.reshape(k * b, -1))  # (k*b, D) -> (k*b, C, H, W)
            x_rep = xb.expand(k, *xb.shape).reshape(k * b, *xb.shape[1:])
            log_px_z = reconstruction_log_likelihood(model, logits, x_rep).reshape(k, b)
            log_pz = log_normal_diagonal(z, torch.zeros_like(z), torch.zeros_like(z))
            log_qz = log_normal_diagonal(z, mu, logvar)
            log_w.append(log_px_z + log_pz - log_qz)  # (k, b)
        log_w_all = torch.cat(log_w)  # (K, b)
        results.append((torch.logsumexp(log_w_all, dim=0) - math.log(samples)).cpu())
    return torch.cat(results)


def bits_per_dim(nats_per_example: float | torch.Tensor, dims: int = 784):
    """Convert a log-likelihood in nats per example into bits per dimension (pixel)."""
    return nats_per_example / (dims * math.log(2))


@torch.no_grad()
def active_units(model, x: torch.Tensor, *, threshold: float = 0.01,
                 batch_size: int = 1000) -> tuple[int, torch.Tensor]:
    """Count the latent dimensions the encoder actually uses (Burda et al. 2016).

    Dimension i is active when Var_x( E_q[z_i | x] ) > ``threshold``: its posterior mean moves
    with the input. An inactive dimension has collapsed onto the prior.

    Returns:
        ``(count, variances)`` with ``variances`` of shape (latent_dim,).
    """
    model.eval()
    device = next(model.parameters()).device
    mus = torch.cat([model.encode(x[sl].to(device))[0].cpu() for sl in _batches(x.shape[0], batch_size)])
    variances = mus.var(dim=0)
    return int((variances > threshold).sum()), variances
