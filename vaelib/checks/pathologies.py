"""Checks for the exercises of chapter 5 (what goes wrong in a VAE)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

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


# ------------------------------------------------------------------ exercise: what the decoder uses (★★★)
__all__ += ["check_decoder_uses", "usage_case", "USAGE_ROLES"]

# The planted dimensions, by role: what the encoder says about them and whether the decoder reads them.
USAGE_ROLES = {
    "used": "informative (the posterior mean follows the image) and read by the decoder",
    "ignored": "informative (KL well above 0.1 nat, an active unit) but never read by the decoder",
    "constant": "the same narrow q(z_i|x) for every image (KL above 0.1 nat, no information), read by the decoder",
    "wiggle": "a mean that moves a little (an active unit) with almost no KL, never read by the decoder",
    "prior": "q(z_i|x) = N(0, 1) for every image, never read by the decoder",
}
_USAGE_CASES = ({"used": 3, "ignored": 2, "constant": 1, "wiggle": 1, "prior": 1},
                {"used": 4, "ignored": 2, "constant": 2, "wiggle": 2, "prior": 2})
_USAGE_IMAGES, _USAGE_HIDDEN, _USAGE_SIDE = 2000, 24, 8
_CONSTANT_MEAN, _CONSTANT_STD = 0.5, 0.03


def usage_case(seed: int | None, index: int) -> tuple[list[str], Callable[[torch.Tensor], torch.Tensor],
                                                      torch.Tensor, torch.Tensor, torch.Tensor]:
    """One planted case: ``(roles, decode, x, mu, logvar)``.

    ``roles[i]`` is dimension i's role (a key of :data:`USAGE_ROLES`), in an order drawn from the
    seed; ``decode`` maps codes (N, D) to logits (N, 1, 8, 8); ``x`` holds 2,000 binary images
    drawn from the decoder; ``mu`` and ``logvar`` (2000, D) are the encoder's q(z|x).
    """
    gen = torch.Generator().manual_seed((11 if seed is None else seed) * 101 + index)
    roles = [role for role, count in _USAGE_CASES[index].items() for _ in range(count)]
    roles = [roles[i] for i in torch.randperm(len(roles), generator=gen).tolist()]
    d = len(roles)
    read = torch.tensor([1.5 if role in ("used", "constant") else 0.0 for role in roles])
    w1 = torch.randn(d, _USAGE_HIDDEN, generator=gen) * read[:, None]  # a row of zeros: never read
    b1 = torch.randn(_USAGE_HIDDEN, generator=gen) * 0.5
    w2 = torch.randn(_USAGE_HIDDEN, _USAGE_SIDE**2, generator=gen) * 1.2
    b2 = torch.randn(_USAGE_SIDE**2, generator=gen) * 0.5

    def decode(z: torch.Tensor) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != d:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"decode takes codes of shape (N, {d}), got {shape}.")
        return (torch.tanh(z.to(w1.dtype) @ w1 + b1) @ w2 + b2).view(-1, 1, _USAGE_SIDE, _USAGE_SIDE).to(z.dtype)

    z = torch.randn(_USAGE_IMAGES, d, generator=gen)  # each image's own code
    mu, logvar = torch.zeros_like(z), torch.zeros_like(z)
    for i, role in enumerate(roles):
        if role in ("used", "ignored"):
            mu[:, i] = 0.95 * z[:, i]
            logvar[:, i] = math.log(0.1) + 0.2 * torch.randn(_USAGE_IMAGES, generator=gen)
        elif role == "constant":  # the images were drawn with this dimension at its constant value
            z[:, i] = _CONSTANT_MEAN
            mu[:, i], logvar[:, i] = _CONSTANT_MEAN, 2 * math.log(_CONSTANT_STD)
        elif role == "wiggle":
            mu[:, i], logvar[:, i] = 0.15 * z[:, i], math.log(1 - 0.15**2)
    x = torch.bernoulli(torch.sigmoid(decode(z)), generator=gen)
    return roles, decode, x, mu, logvar


def _swap_cost(decode, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, draws: int = 4) -> torch.Tensor:
    """Nats per image of E[log p(x|z)] lost when dimension i takes another image's draw, (D,)."""
    gen = torch.Generator().manual_seed(0)
    cost = torch.zeros(mu.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for _ in range(draws):
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            base = -F.binary_cross_entropy_with_logits(decode(z), x, reduction="none").flatten(1).sum(1)
            other = torch.randperm(len(z), generator=gen)
            for i in range(z.shape[1]):
                swapped = z.clone()
                swapped[:, i] = z[other, i]
                log_lik = -F.binary_cross_entropy_with_logits(decode(swapped), x, reduction="none").flatten(1).sum(1)
                cost[i] += float((base - log_lik).mean()) / draws
    return cost


def _probe_decoder_uses(fn: Callable, seed: int | None = None) -> dict:
    answers = []
    for index in range(len(_USAGE_CASES)):
        _, decode, x, mu, logvar = usage_case(seed, index)
        got = fn(decode, x.clone(), mu.clone(), logvar.clone(), torch.Generator().manual_seed(index))
        answers.append(to_data(got.detach() if isinstance(got, torch.Tensor) else got))
    return {"seed": seed, "answers": answers}


def _dims(indices: list[int]) -> str:
    names = [str(i) for i in indices]
    return ("dimension " + names[0]) if len(names) == 1 else ("dimensions " + ", ".join(names[:-1]) + " and " + names[-1])


def _judge_decoder_uses(data: dict) -> str:
    shown = []
    for index, raw in enumerate(data["answers"]):
        roles, decode, x, mu, logvar = usage_case(data["seed"], index)
        d = len(roles)
        got = from_data(raw)
        if not isinstance(got, torch.Tensor):
            raise Hint(f"return a tensor of {d} booleans, one per latent dimension (True: the decoder uses it), "
                       f"not {type_name(got)}.")
        if tuple(got.shape) != (d,):
            raise Hint(f"with {d} latent dimensions return shape ({d},), one verdict per dimension; got "
                       f"{tuple(got.shape)}. Reduce over the images (dim=0) before you decide.")
        if got.dtype != torch.bool:
            values = got.double()
            if not bool(((values == 0) | (values == 1)).all()):
                raise Hint("return True or False for each dimension, e.g. `cost > threshold`, not the "
                           "measurements themselves.")
            got = values == 1
        used = torch.tensor([role == "used" for role in roles])
        if bool((got == used).all()):
            shown.append(f"{int(used.sum())} of {d} dimensions used")
            continue
        kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)  # (D,) nats, the chapter's bars
        spread = mu.var(0)  # the active-units statistic
        where = {role: [i for i, r in enumerate(roles) if r == role and bool(got[i])] for role in USAGE_ROLES}
        missed = [i for i, r in enumerate(roles) if r == "used" and not bool(got[i])]
        if bool(got.all()):
            raise Hint(f"you call all {d} dimensions used. Some carry no information about the image, and the "
                       "decoder ignores others: measure, for each dimension, what the reconstruction of an image "
                       "loses when that dimension says something else than it says about this image.")
        if not bool(got.any()):
            raise Hint(f"you call none of the {d} dimensions used, yet the decoder reconstructs the images "
                       f"from some of them. Is your measure's sign right (a loss of log-likelihood is positive)?")
        if bool((got == ~used).all()):
            raise Hint("your verdicts are exactly inverted: True must mean 'the decoder uses this dimension'.")
        if where["ignored"] and where["wiggle"]:
            raise Hint(f"you flagged {_dims(where['ignored'] + where['wiggle'])}, whose posterior means move with "
                       "the image (active units, variance of the mean "
                       f"{', '.join(f'{float(spread[i]):.2f}' for i in where['ignored'] + where['wiggle'])}), "
                       "but the decoder never reads them. Active units measure the encoder; ask the decoder: "
                       "does an image's reconstruction get worse when the dimension's value changes?")
        if where["constant"]:
            i = where["constant"][0]
            raise Hint(f"you flagged {_dims(where['constant'])}: the decoder reads it, but its q(z_i|x) is "
                       f"N({_CONSTANT_MEAN}, {_CONSTANT_STD}²) for every image, so it tells the decoder nothing about "
                       f"which image it is (its KL, {float(kl[i]):.1f} nats, is the price of sitting away from the "
                       "prior, not information). Sensitivity of the decoder's output, or replacing the value by a "
                       "prior draw, mixes that up with use: give the dimension what it says about another image "
                       "instead, and measure what the reconstruction loses.")
        if where["ignored"]:
            raise Hint(f"you flagged {_dims(where['ignored'])}, which carry "
                       f"{', '.join(f'{float(kl[i]):.2f}' for i in where['ignored'])} nats of KL each, yet the decoder "
                       "never reads them: the KL measures what the encoder sends, not what the decoder uses. Change "
                       "the dimension's value and measure what the reconstruction loses.")
        if where["wiggle"] or where["prior"]:
            flagged = where["wiggle"] + where["prior"]
            raise Hint(f"you flagged {_dims(flagged)}: the decoder never reads them (their KL is "
                       f"{', '.join(f'{float(kl[i]):.3f}' for i in flagged)} nats). If your measure is a "
                       "difference of log-likelihoods, its noise may have passed your threshold: average over "
                       "all the images (and several draws), and keep the threshold above the noise.")
        cost = _swap_cost(decode, x, mu, logvar)
        them = "it" if len(missed) == 1 else "them"
        raise Hint(f"you missed {_dims(missed)}: the decoder reads {them}, and giving an image another image's "
                   f"value there costs {', '.join(f'{float(cost[i]):.1f}' for i in missed)} nats per image. Is your "
                   f"threshold too high, or your measure blind to {them}?")
    return ("right on every dimension of both planted cases (" + "; ".join(shown) + "): you left out dimensions "
            "that carry KL but are never read, one the decoder reads but that says nothing about the image, and "
            "active units that the decoder ignores.")


check_decoder_uses = Check(
    "decoder_uses", probe=_probe_decoder_uses, judge=_judge_decoder_uses, seeded=True,
    doc="""Exercise 'what does the decoder use?' (★★★): ``fn(decode, x, mu, logvar, generator)`` -> (D,) booleans.

    On two planted cases (8 and 12 latent dimensions, 2,000 images each, roles drawn from the seed:
    see :data:`USAGE_ROLES`) the answer must be True exactly for the dimensions that carry
    information about the image and are read by the decoder.""")
