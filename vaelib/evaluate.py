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
        kl.append(kl_standard_normal(mu, logvar) if getattr(model, "has_standard_prior", True)
                  else log_normal_diagonal(z, mu, logvar) - model.log_prior(z))  # learned prior: one sample
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
            log_pz = model.log_prior(z)  # (k, b)
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


# ------------------------------------------------------------------ holes and prior samples
__all__ += ["far_from_data", "classifier_confidence"]


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
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile}.")
    for name, z in (("z_query", z_query), ("z_train", z_train), ("z_test", z_test)):
        if z.dim() != 2 or z.shape[1] != z_train.shape[-1] or z.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (N, D) tensor with the same D as z_train, "
                             f"got {tuple(z.shape)}.")
    z_train = z_train.float().cpu()

    def nearest(z: torch.Tensor) -> torch.Tensor:
        z = z.float().cpu()
        return torch.cat([torch.cdist(z[sl], z_train).min(dim=1).values for sl in _batches(z.shape[0], batch_size)])

    threshold = nearest(z_test).quantile(quantile).item()
    return nearest(z_query) > threshold, threshold


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
                     for sl in _batches(images.shape[0], batch_size)])
    return {"confidence": float(top.mean()), "recognised": float((top > threshold).float().mean())}
