"""Checks for the exercises of chapter 5 (what goes wrong in a VAE)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from . import Check, Hint, MultipleChoice, attempt, attempted, hint_for_known_mistake
from .wire import from_data, to_data, type_name

__all__ = ["check_kl_mean_answer", "check_free_bits_kl", "check_cyclical_experiment", "check_aggregate_moments"]


check_kl_mean_answer = MultipleChoice(
    "kl_mean", correct="c",
    hints={
        "a": ("the KL term is summed over the latents as usual, but the reconstruction term is "
              "divided by the number of pixels; the two terms no longer carry the ELBO's "
              "weights."),
        "b": ("dividing the reconstruction term by 784 is the same, up to an overall factor, "
              "as multiplying the KL term by 784, not by 1/784: multiply the whole loss by "
              "784."),
        "d": ("the batch mean scales both terms alike; only the division by the number of "
              "pixels changes their balance."),
    },
    success=("right: 784 x (mean BCE + KL) = summed BCE + 784 KL, so the optimum is that of a "
             "β-VAE with β = 784, the number of pixels."),
    doc="Exercise 'a mean that is a β': which β does a per-pixel mean reconstruction loss train?")


def _reference_free_bits(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # (B, D) nats
    return torch.clamp(per_dim.mean(dim=0), min=free_bits).sum()


_LAMBDA = 0.25


def _free_bits_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5 if seed is None else seed)
    # Some dimensions far from the prior (large KL), some close to it (KL below lambda).
    scale = torch.tensor([2.0, 1.0, 0.3, 0.05, 0.02, 0.01])
    mu = torch.randn(32, 6, generator=gen) * scale
    logvar = torch.randn(32, 6, generator=gen) * scale
    return mu, logvar


def _free_bits_gradient(fn: Callable, mu: torch.Tensor, logvar: torch.Tensor):
    mu_g, lv_g = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    fn(mu_g, lv_g, _LAMBDA).backward()
    return mu_g.grad


def _probe_free_bits_kl(fn: Callable, seed: int | None = None) -> dict:
    mu, logvar = _free_bits_inputs(seed)
    return {"seed": seed, "got": to_data(fn(mu, logvar, _LAMBDA)),
            "grad_mu": attempt(_free_bits_gradient, fn, mu, logvar)}


def _judge_free_bits_kl(data: dict) -> str:
    mu, logvar = _free_bits_inputs(data["seed"])
    lam = _LAMBDA
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
        raise Hint(f"return one number for the batch (a 0-d tensor), got {shape}: clamp the "
                   "batch-averaged KL of each dimension, then sum over the dimensions.")
    value, want = float(got), float(_reference_free_bits(mu, logvar, lam))
    if abs(value - want) < 1e-4 * max(1.0, abs(want)):
        # The gradient must vanish for the dimensions below lambda.
        grad = attempted(data["grad_mu"])
        per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)
        free = per_dim < lam
        if (not isinstance(grad, torch.Tensor) or grad.shape != mu.shape
                or not grad[:, free].abs().max() <= 1e-8):
            raise Hint("the value is right but dimensions below lambda still get a gradient: "
                       "use torch.clamp(..., min=lambda) (or torch.maximum), not a constant "
                       "added after the fact.")
        return (f"{value:.3f} nats; {int(free.sum())} of 6 dimensions sit below lambda = {lam} "
                "and receive no gradient from the KL.")
    per_example = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # (B, D)
    total = per_example.sum(1).mean()
    candidates = {
        "that is the plain KL (clamping the total KL as a whole changes nothing once it "
        "exceeds lambda): apply max(lambda, .) to each latent dimension's batch-averaged KL, "
        "then sum.": torch.clamp(total, min=lam),
        "you clamped each example's KL before averaging over the batch: average each "
        "dimension's KL over the batch first, then clamp (Kingma et al. apply the threshold "
        "to the batch average).": torch.clamp(per_example, min=lam).sum(1).mean(),
        "you averaged over the latent dimensions: sum the clamped values over them.":
            torch.clamp(per_example.mean(0), min=lam).mean(),
        "the KL is missing its factor 1/2: KL_d = 0.5 * (mu^2 + exp(logvar) - 1 - logvar).":
            torch.clamp(2 * per_example.mean(0), min=lam).sum(),
        "use min=lambda as a floor (max(lambda, KL_d)), not a ceiling.":
            torch.clamp(per_example.mean(0), max=lam).sum(),
    }
    hint_for_known_mistake(value, candidates, rel_tol=1e-4)
    raise Hint(f"got {value:.4f}, expected {want:.4f}. Compute the closed-form KL of each "
               "dimension (B, D), average it over the batch (D,), clamp it from below at "
               "lambda, and sum over the dimensions.")


check_free_bits_kl = Check(
    "free_bits_kl", probe=_probe_free_bits_kl, judge=_judge_free_bits_kl, seeded=True,
    doc="Exercise 'free bits by hand': the penalised KL, sum_d max(lambda, mean_batch KL_d).")


def _probe_cyclical(result: Mapping[str, float], latent_dim: int = 20) -> dict:
    return {"result": to_data(result), "latent_dim": int(latent_dim)}


def _judge_cyclical(data: dict) -> str:
    result, latent_dim = from_data(data["result"]), int(data["latent_dim"])
    keys = {"active_units", "informative_dims", "test_elbo"}
    if not isinstance(result, Mapping) or set(result) != keys:
        raise Hint(f"fill a dict with exactly the keys {sorted(keys)}.")
    au, inf, e = int(result["active_units"]), int(result["informative_dims"]), float(result["test_elbo"])
    if not (0 <= au <= latent_dim and 0 <= inf <= latent_dim):
        raise Hint(f"counts of latent dimensions lie between 0 and {latent_dim}; got "
                   f"active_units={au}, informative_dims={inf}.")
    if e > 0:
        raise Hint("the ELBO of binary images is a log-probability bound, so it is negative: "
                   "report evaluate_elbo(...)['elbo'], not its negation.")
    if not e >= -400:
        raise Hint(f"a test ELBO of {e:.0f} nats is worse than modelling each pixel as a fair "
                   "coin (-543 nats) would nearly allow: did training run, and on the fixed "
                   "binarized test set?")
    return (f"{au} active units, {inf} dimensions with more than 0.1 nats of KL, "
            f"test ELBO {e:.1f} nats per image.")


check_cyclical_experiment = Check(
    "cyclical_experiment", probe=_probe_cyclical, judge=_judge_cyclical,
    doc="Exercise 'a cyclical schedule': active units, informative dimensions and test ELBO of the run.")


# ------------------------------------------------------------------ where the codes go without a KL

def _aggregate_inputs(seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(21 if seed is None else seed)
    mu = torch.randn(500, 4, generator=gen, dtype=torch.float64) * torch.tensor([0.3, 1.0, 3.0, 10.0],
                                                                                 dtype=torch.float64)
    logvar = torch.randn(500, 4, generator=gen, dtype=torch.float64) - 1.0
    return mu, logvar


def _aggregate_reference(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # q(z) = 1/N sum_n N(mu_n, diag exp(logvar_n)): law of total variance, per dimension
    return mu.mean(0), logvar.exp().mean(0) + mu.var(0, unbiased=False)


def _probe_aggregate_moments(fn: Callable, seed: int | None = None) -> dict:
    mu, logvar = _aggregate_inputs(seed)
    got = fn(mu.clone(), logvar.clone())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return {"seed": seed, "type": type_name(got)}
    mean, var = (torch.as_tensor(g).detach().double().cpu() for g in got)
    return {"seed": seed, "mean": to_data(mean), "var": to_data(var)}


def _judge_aggregate_moments(data: dict) -> str:
    if "type" in data:
        raise Hint(f"return a pair (mean, variance), two tensors of shape (D,); got {data['type']}.")
    mu, logvar = _aggregate_inputs(data["seed"])
    mean, var = from_data(data["mean"]).double(), from_data(data["var"]).double()
    want_mean, want_var = _aggregate_reference(mu, logvar)
    if mean.shape != want_mean.shape or var.shape != want_var.shape:
        raise Hint(f"return one mean and one variance per latent dimension, shape ({mu.shape[1]},); "
                   f"got {tuple(mean.shape)} and {tuple(var.shape)}. Reduce over the batch (dim=0).")
    if not torch.allclose(mean, want_mean, rtol=1e-6, atol=1e-9):
        raise Hint("the mean of a mixture with equal weights is the average of the component means, mu.mean(0).")
    if torch.allclose(var, mu.var(0, unbiased=False), rtol=1e-6):
        raise Hint("you measured only the spread of the means; each q(z|x) adds its own variance, "
                   "exp(logvar): Var(z) = E[Var(z|x)] + Var(E[z|x]).")
    if torch.allclose(var, logvar.exp().mean(0), rtol=1e-6):
        raise Hint("you measured only the average posterior variance; the means move from image to "
                   "image too: add mu.var(0, unbiased=False).")
    if torch.allclose(var, logvar.exp().mean(0) + mu.var(0, unbiased=True), rtol=1e-9):
        raise Hint("almost: q(z) weighs the N codes equally, so use the population variance of the "
                   "means, mu.var(0, unbiased=False).")
    if not torch.allclose(var, want_var, rtol=1e-6, atol=1e-9):
        raise Hint("Var(z) under q(z) = E[Var(z|x)] + Var(E[z|x]) = exp(logvar).mean(0) + "
                   "mu.var(0, unbiased=False), per dimension.")
    return ("right: the aggregate posterior's variance is the average posterior variance plus the "
            "spread of the means; N(0, I) asks for 1 in every dimension.")


check_aggregate_moments = Check(
    "aggregate_moments", probe=_probe_aggregate_moments, judge=_judge_aggregate_moments, seeded=True,
    doc="""Exercise 'where do the codes go without a KL?': ``fn(mu, logvar) -> (mean, variance)``
    of the aggregate posterior q(z) = 1/N sum_n q(z|x_n), each (D,).""")
