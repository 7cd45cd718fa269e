"""Checks for the exercises of chapter 4 (the variational autoencoder)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from . import Check, Hint, MultipleChoice, hint_for_known_mistake
from .wire import from_data, to_data, type_name

__all__ = ["check_bound_order_answer", "check_negative_elbo", "check_importance_sampling_experiment"]


check_bound_order_answer = MultipleChoice(
    "bound_order", correct="c",
    hints={
        "a": ("the ELBO is the loosest of the three: it is the K = 1 case of the "
              "importance-sampled bound, and the bound can only tighten as K grows."),
        "b": ("K = 10 is tighter than the ELBO, but K = 1000 averages more samples inside the "
              "logarithm and is tighter still (on average)."),
        "d": ("all three are lower bounds on log p(x) in expectation, so none of them can be "
              "above it on average; they are not equally close either."),
    },
    success=("right: every estimate is a lower bound in expectation, and the bound tightens as "
             "K grows; K = 1000 is the closest of the three."),
    doc="Exercise 'which number is closest to log p(x)?'.")


def _reference(logits, x, mu, logvar):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return -(rec - kl).mean(), rec, kl


def _elbo_inputs(seed: int | None = None) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3 if seed is None else seed)
    logits = torch.randn(16, 1, 28, 28, generator=gen) * 2
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.3), generator=gen)
    mu = torch.randn(16, 5, generator=gen)
    logvar = torch.randn(16, 5, generator=gen) * 0.5
    return logits, x, mu, logvar


def _probe_negative_elbo(fn: Callable, seed: int | None = None) -> dict:
    return {"seed": seed, "got": to_data(fn(*_elbo_inputs(seed)))}


def _judge_negative_elbo(data: dict) -> str:
    logits, x, mu, logvar = _elbo_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
        raise Hint(f"return one number for the batch (a 0-d tensor), got {shape}: "
                   "average the per-example values over the batch.")
    want, rec, kl = _reference(logits, x, mu, logvar)
    value = float(got)
    if abs(value - float(want)) < 1e-3 * abs(float(want)):
        return f"{value:.2f} nats per image, the negative ELBO."
    candidates = {
        "the KL term has the wrong sign: the loss is -(reconstruction - KL) = -reconstruction + KL.":
            -(rec + kl).mean(),
        "the KL is missing its factor 1/2: KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar).":
            -(rec - 2 * kl).mean(),
        "you averaged the reconstruction term over pixels: sum it over the 784 pixels.":
            -(rec / 784 - kl).mean(),
        "you averaged the KL over the latent dimensions: sum it over them.":
            -(rec - kl / 5).mean(),
        "you returned the ELBO, not the loss: the optimizer minimises -ELBO.":
            (rec - kl).mean(),
        "the KL uses logvar as the variance itself: the variance is exp(logvar).":
            -(rec - 0.5 * (mu.pow(2) + logvar - 1 - torch.log(logvar.abs() + 1e-12)).sum(1)).mean(),
    }
    hint_for_known_mistake(value, candidates, rel_tol=1e-3)
    raise Hint(f"got {value:.3f}, expected {float(want):.3f}. Compute the Bernoulli term with "
               "binary_cross_entropy_with_logits (summed over pixels), the closed-form KL "
               "(summed over latent dimensions), subtract, negate, average over the batch.")


check_negative_elbo = Check(
    "negative_elbo", probe=_probe_negative_elbo, judge=_judge_negative_elbo, seeded=True,
    doc="Exercise 'the VAE loss': -ELBO, summed over pixels and latents, averaged over the batch.")


def _probe_importance_sampling(estimates: Mapping[int, float], negative_elbo: float) -> dict:
    return {"estimates": to_data(estimates), "negative_elbo": float(negative_elbo)}


def _judge_importance_sampling(data: dict) -> str:
    estimates, negative_elbo = from_data(data["estimates"]), float(data["negative_elbo"])
    if not isinstance(estimates, Mapping) or set(estimates) != {1, 10, 100}:
        raise Hint("fill a dict with exactly the keys 1, 10 and 100.")
    e = {k: float(v) for k, v in estimates.items()}
    if any(v < 0 for v in e.values()):
        raise Hint("report negative log-likelihoods (positive numbers of nats): negate the mean "
                   "of importance_log_likelihood.")
    if not (e[1] >= e[10] >= e[100]):
        raise Hint(f"the estimates should fall as K grows (a tighter bound), but you have {e}. "
                   "Use the same images and the same trained model for every K.")
    if not abs(e[1] - negative_elbo) <= 3.0:
        raise Hint(f"with K = 1 the estimate is the ELBO, so it should be close to the negative "
                   f"ELBO {negative_elbo:.1f}, not {e[1]:.1f}: same images?")
    return (f"K = 1: {e[1]:.1f}, K = 10: {e[10]:.1f}, K = 100: {e[100]:.1f} nats; "
            f"{e[1] - e[100]:.1f} nats of the ELBO's gap closed by 100 samples.")


check_importance_sampling_experiment = Check(
    "importance_sampling", probe=_probe_importance_sampling, judge=_judge_importance_sampling,
    doc="Exercise 'K samples': test NLL estimates for K = 1, 10, 100 against the negative ELBO.")


# ------------------------------------------------------------- exercise: the amortization gap (★★★)
__all__ += ["check_refined_posterior", "amortization_case", "MIN_GAIN_SHARE", "MIN_IMAGES_IMPROVED"]

MIN_GAIN_SHARE = 0.75       # of the nats per image that the check's own optimiser gains over the encoder's q
MIN_IMAGES_IMPROVED = 0.8   # images that must gain at least half of what the check's optimiser gains on them
_GAP_CASES = (2, 6)         # latent sizes: 2 (where the check computes log p(x) exactly) and 6
_GAP_IMAGES, _GAP_SIDE, _GAP_HIDDEN = 32, 8, 16
_GAP_DRAWS = 1024           # draws of z per image with which the judge measures an ELBO
_MAX_NARROWER = 0.5         # the learner's log-variances may lie at most this far below the best ones, on average
_LOG_2PI = math.log(2 * math.pi)


def amortization_case(seed: int | None, latent_dim: int) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                                  torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small frozen decoder, binary images drawn from it, and an encoder's imperfect q(z|x).

    Returns ``(decode, x, mu, logvar)``: ``decode`` maps codes (N, latent_dim) to logits
    (N, 1, 8, 8) and has no parameters to train; ``x`` holds 32 binary images (32, 1, 8, 8);
    ``mu`` and ``logvar`` (32, latent_dim) are an amortized encoder's guess, near each image's
    posterior but not at its best Gaussian. The same seed gives the same case.
    """
    gen = torch.Generator().manual_seed((7 if seed is None else seed) * 1009 + latent_dim)
    scale = 1.5 if latent_dim == 2 else 2.5  # the 6-D posteriors are narrower: q's entropy matters there
    w1 = torch.randn(latent_dim, _GAP_HIDDEN, generator=gen, dtype=torch.float64) * scale
    b1 = torch.randn(_GAP_HIDDEN, generator=gen, dtype=torch.float64) * 0.5
    w2 = torch.randn(_GAP_HIDDEN, _GAP_SIDE**2, generator=gen, dtype=torch.float64) * 1.2
    b2 = torch.randn(_GAP_SIDE**2, generator=gen, dtype=torch.float64) * 0.5
    w1, b1, w2, b2 = (t.float() for t in (w1, b1, w2, b2))

    def decode(z: torch.Tensor) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"decode takes codes of shape (N, {latent_dim}), got {shape}: flatten the "
                             "draws and the images into one batch, z.reshape(-1, d), and reshape the logits back.")
        hidden = torch.tanh(z.to(w1.dtype) @ w1 + b1)  # (N, d) -> (N, 16)
        return (hidden @ w2 + b2).view(-1, 1, _GAP_SIDE, _GAP_SIDE).to(z.dtype)  # (N, 64) -> (N, 1, 8, 8)

    z = torch.randn(_GAP_IMAGES, latent_dim, generator=gen)
    x = torch.bernoulli(torch.sigmoid(decode(z)), generator=gen)
    mu = z + 0.25 * torch.randn(_GAP_IMAGES, latent_dim, generator=gen)  # off the best mean by a little
    logvar = math.log(0.09) + 0.3 * torch.randn(_GAP_IMAGES, latent_dim, generator=gen)  # too wide, mostly
    return decode, x, mu, logvar


def _gap_eps(seed: int | None, latent_dim: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed((7 if seed is None else seed) * 7919 + latent_dim)
    return torch.randn(_GAP_DRAWS, _GAP_IMAGES, latent_dim, generator=gen)


def _gap_terms(decode, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               eps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image (B,): E_q[log p(x|z)], E_q[log p(z)], the entropy of q and the KL, in nats."""
    draws, b, d = eps.shape
    z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, d)
    logits = decode(z.reshape(draws * b, d)).reshape(draws, b, -1)  # (S*B, 1, 8, 8) -> (S, B, 64)
    rec = -F.binary_cross_entropy_with_logits(logits, x.reshape(1, b, -1).expand_as(logits),
                                              reduction="none").sum(-1).double().mean(0)
    mu, logvar = mu.double(), logvar.double()
    log_prior = -0.5 * (d * _LOG_2PI + (mu.pow(2) + logvar.exp()).sum(1))  # E_q[log N(z; 0, I)]
    entropy = 0.5 * (d * (1 + _LOG_2PI) + logvar.sum(1))
    return {"rec": rec, "log_prior": log_prior, "entropy": entropy, "kl": -(log_prior + entropy),
            "elbo": rec + log_prior + entropy}


def _exact_log_px(decode, x: torch.Tensor) -> torch.Tensor:
    """log p(x) of the 2-D case on a grid of z (nats per image, (B,))."""
    g = torch.linspace(-4.5, 4.5, 201, dtype=torch.float64)  # steps of 0.045, under a third of any posterior σ
    z = torch.stack(torch.meshgrid(g, g, indexing="ij"), dim=-1).reshape(-1, 2)  # (G, 2)
    logits = decode(z.float()).reshape(len(z), -1).double()  # (G, 64)
    log_lik = x.reshape(len(x), -1).double() @ logits.T - F.softplus(logits).sum(1)  # (B, G)
    log_prior = -0.5 * (2 * _LOG_2PI + z.pow(2).sum(1))
    return torch.logsumexp(log_lik + log_prior, dim=1) + 2 * math.log(float(g[1] - g[0]))


@functools.lru_cache(maxsize=16)
def _gap_reference(seed: int | None, latent_dim: int) -> dict:
    """The check's own per-image Gaussians and the ELBOs it measures.

    Adam by hand (so the reference does not move with torch.optim's defaults), 300 steps of 16 draws
    each, the rate decaying linearly from 0.05 to 0.
    """
    decode, x, mu0, logvar0 = amortization_case(seed, latent_dim)
    gen = torch.Generator().manual_seed(12345)
    params = [mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    steps, rate, (beta1, beta2) = 300, 0.05, (0.9, 0.999)
    for step in range(1, steps + 1):
        eps = torch.randn(16, _GAP_IMAGES, latent_dim, generator=gen)
        loss = -_gap_terms(decode, x, params[0], params[1], eps)["elbo"].sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, (m, v) in zip(params, grads, moments, strict=True):
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                size = rate * (1 - (step - 1) / steps) / (1 - beta1**step)
                p.sub_(size * m / ((v / (1 - beta2**step)).sqrt() + 1e-8))
    mu, logvar = (p.detach() for p in params)
    eps = _gap_eps(seed, latent_dim)
    with torch.no_grad():
        return {"mu": mu, "logvar": logvar, "elbo": _gap_terms(decode, x, mu, logvar, eps)["elbo"],
                "start": _gap_terms(decode, x, mu0, logvar0, eps)["elbo"],
                "log_px": _exact_log_px(decode, x) if latent_dim == 2 else None}


def _probe_refined_posterior(fn: Callable, seed: int | None = None) -> dict:
    cases = []
    for latent_dim in _GAP_CASES:
        decode, x, mu, logvar = amortization_case(seed, latent_dim)
        got = fn(decode, x.clone(), mu.clone(), logvar.clone(), torch.Generator().manual_seed(latent_dim))
        if not (isinstance(got, (tuple, list)) and len(got) == 3):
            cases.append({"type": type_name(got), "length": len(got) if isinstance(got, (tuple, list)) else None})
            continue
        cases.append({"got": [to_data(g.detach() if isinstance(g, torch.Tensor) else g) for g in got]})
    return {"seed": seed, "cases": cases}


def _judge_refined_posterior(data: dict) -> str:
    shown = []
    for latent_dim, record in zip(_GAP_CASES, data["cases"], strict=True):
        decode, x, mu0, logvar0 = amortization_case(data["seed"], latent_dim)
        b, where = _GAP_IMAGES, f"with {latent_dim} latent dimensions"
        if "got" not in record:
            got = f"a {record['type']}" + (f" of {record['length']} items" if record.get("length") is not None else "")
            raise Hint(f"return three tensors, (mu, logvar, elbo): the refined means and log-variances, each "
                       f"(B, d), and the ELBO of each image under its refined Gaussian, (B,); got {got}.")
        mu, logvar, elbo = (from_data(v) for v in record["got"])
        for name, value, shape in (("mu", mu, (b, latent_dim)), ("logvar", logvar, (b, latent_dim)), ("elbo", elbo, (b,))):
            if not isinstance(value, torch.Tensor):
                raise Hint(f"{name} must be a tensor of shape {shape}, not {type_name(value)}.")
            if tuple(value.shape) != shape:
                extra = (" One number per image: do not average over the batch." if name == "elbo" else "")
                raise Hint(f"{where} and {b} images, {name} must have shape {shape}; got "
                           f"{tuple(value.shape)}.{extra}")
            if not torch.isfinite(value).all():
                raise Hint(f"{where}, {name} holds NaN or infinite values: a log-variance that ran off "
                           "(a learning rate too large?), or a log of 0.")
        mu, logvar, elbo = mu.float(), logvar.float(), elbo.double()
        if torch.allclose(mu, mu0) and torch.allclose(logvar, logvar0):
            raise Hint(f"{where} you returned the encoder's mu and logvar unchanged: start from them and "
                       "improve each image's own Gaussian by gradient ascent on its ELBO.")
        ref = _gap_reference(data["seed"], latent_dim)
        eps = _gap_eps(data["seed"], latent_dim)
        with torch.no_grad():
            terms = _gap_terms(decode, x, mu, logvar, eps)
        if not torch.isfinite(terms["elbo"]).all():
            raise Hint(f"{where} the ELBO of your Gaussians is not finite: your log-variances run from "
                       f"{float(logvar.min()):.3g} to {float(logvar.max()):.3g}. Keep them where a Gaussian can "
                       "sit (a smaller learning rate, fewer steps), and check the sign of the KL.")
        _judge_reported_bound(elbo, terms, ref, decode, x, mu, logvar, eps, where)
        _judge_gain(terms["elbo"], logvar, mu, ref, where)
        gain, ref_gain = (terms["elbo"] - ref["start"]).mean(), (ref["elbo"] - ref["start"]).mean()
        line = (f"d = {latent_dim}: {gain:.2f} nats per image over the encoder's q (the check's optimiser: "
                f"{ref_gain:.2f})")
        if ref["log_px"] is not None:
            total = (ref["log_px"] - ref["start"]).mean()
            line += (f", {gain / total:.0%} of the encoder's gap to log p(x), which the check computed exactly; "
                     f"{(ref['log_px'] - terms['elbo']).mean():.2f} nats remain (the check's optimiser leaves "
                     f"{(ref['log_px'] - ref['elbo']).mean():.2f}, the gap no Gaussian can close)")
        shown.append(line)
    return ("your bounds are the ELBOs of your Gaussians, and they beat the encoder's on "
            "(nearly) every image: " + "; ".join(shown) + ".")


def _judge_reported_bound(elbo, terms, ref, decode, x, mu, logvar, eps, where) -> None:
    """The learner's numbers must be the ELBO of the Gaussians they returned (within Monte Carlo noise)."""
    diff = elbo - terms["elbo"]
    tolerance = 0.3 + 4 * float(diff.std()) / math.sqrt(len(diff))
    if abs(float(diff.mean())) <= tolerance:
        return
    rec, kl = terms["rec"], terms["kl"]
    candidates = {
        "your numbers are -ELBO, the loss; return the ELBO itself (a negative number of nats).": -terms["elbo"],
        "your bound leaves out the KL term: it is E_q[log p(x|z)] alone, which can exceed log p(x). "
        "The ELBO is E_q[log p(x|z)] - KL(q(z|x) || N(0, I)).": rec,
        "your bound leaves out the entropy of q, -E_q[log q(z|x)]: with E_q[log p(x|z)] + E_q[log p(z)] "
        "alone the best q is a point. Add the entropy, 0.5 * sum(1 + log 2π + logvar), or use the KL.":
            rec + terms["log_prior"],
        "your bound leaves out the prior's term E_q[log p(z)]: E_q[log p(x|z)] plus the entropy is no ELBO. "
        "Subtract the whole KL(q || N(0, I)).": rec + terms["entropy"],
        "the KL is added, not subtracted: the ELBO is E_q[log p(x|z)] - KL.": rec + kl,
        "the KL has twice its value: KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar).": rec - 2 * kl,
        "your reconstruction term is a mean over the pixels; sum it over them.": rec / x[0].numel() - kl,
        "your numbers are the ELBO of the encoder's Gaussians, before refining: measure it again at the "
        "refined mu and logvar.": ref["start"],
    }
    if (logvar > 0).all():  # a variance or a standard deviation where the log-variance belongs
        with torch.no_grad():
            as_var = _gap_terms(decode, x, mu, torch.log(logvar), eps)["elbo"]
            as_std = _gap_terms(decode, x, mu, 2 * torch.log(logvar), eps)["elbo"]
        candidates["your logvar looks like the variance itself (your bounds fit q = N(mu, logvar)): return "
                   "its logarithm."] = as_var
        candidates["your logvar looks like the standard deviation (your bounds fit q = N(mu, logvar^2)): "
                   "return 2 * log(std)."] = as_std
    hint, value = min(candidates.items(), key=lambda item: float((elbo - item[1]).pow(2).mean()))
    residual = elbo - value  # the mistake that fits best must fit within Monte Carlo noise
    if abs(float(residual.mean())) <= 0.3 + 4 * float(residual.std()) / math.sqrt(len(residual)):
        raise Hint(f"{where}: {hint}")
    side = "above" if float(diff.mean()) > 0 else "below"
    message = (f"{where} your bounds are {abs(float(diff.mean())):.2f} nats per image {side} the ELBO of the "
               f"Gaussians you returned (the check measured it with {_GAP_DRAWS} draws per image)")
    if ref["log_px"] is not None and float((elbo - ref["log_px"]).mean()) > tolerance:
        message += (f", and {float((elbo - ref['log_px']).mean()):.2f} nats above log p(x) itself (computed "
                    "exactly on a grid), where no lower bound can be")
    raise Hint(message + ". Estimate E_q[log p(x|z)] with draws z = mu + exp(logvar / 2) * eps at the refined "
               "mu and logvar, and subtract the closed-form KL.")


def _judge_gain(elbo: torch.Tensor, logvar: torch.Tensor, mu: torch.Tensor, ref: dict, where: str) -> None:
    """The learner's Gaussians must gain most of what the check's optimiser gains, on most images."""
    gain, ref_gain = elbo - ref["start"], ref["elbo"] - ref["start"]
    improved = float((gain >= 0.5 * ref_gain).double().mean())
    share = float(gain.mean() / ref_gain.mean())
    sigma, ref_sigma = float(torch.exp(0.5 * logvar).mean()), float(torch.exp(0.5 * ref["logvar"]).mean())
    what = (f"{where} your Gaussians' ELBO is {float(gain.mean()):+.2f} nats per image against the encoder's, "
            f"where the check's optimiser gains {float(ref_gain.mean()):.2f}")
    narrow = float((logvar - ref["logvar"]).mean())  # log of the ratio of variances, on average
    if narrow < -_MAX_NARROWER:
        raise Hint(f"{what}, and your standard deviations are {math.exp(0.5 * narrow):.2g} times those of the "
                   f"best Gaussians on average (yours {sigma:.3g}, the best about {ref_sigma:.2f}): the ELBO "
                   "wants them wider. An objective without the entropy of q (the KL's -log σ² part) rewards a "
                   "point and shrinks σ at every step, and one without the KL at all also pulls the means away "
                   "from the prior: maximise the whole ELBO, E_q[log p(x|z)] - KL(q(z|x) || N(0, I)), over "
                   "mu and logvar.")
    if share >= MIN_GAIN_SHARE and improved >= MIN_IMAGES_IMPROVED:
        return
    if float(gain.mean()) < -float(ref_gain.mean()):
        raise Hint(f"{what}: your Gaussians are far worse than the encoder's, the optimiser went the wrong "
                   "way. It minimises, so give it -ELBO, the loss (and subtract the KL inside the ELBO).")
    if float(gain.mean()) < 0 and float(mu.abs().mean()) > 1.5 * float(ref["mu"].abs().mean()) + 0.5:
        raise Hint(f"{what}, and your means drifted away from the prior (|mu| {float(mu.abs().mean()):.2f} on "
                   f"average, the best {float(ref['mu'].abs().mean()):.2f}): the KL term pulls them to 0; keep "
                   "it whole in the objective.")
    if float(gain.mean()) < 0:
        raise Hint(f"{what}: your Gaussians are worse than the encoder's. Maximise each image's ELBO, "
                   "E_q[log p(x|z)] - KL, over its own mu and logvar, starting from the encoder's.")
    if share >= MIN_GAIN_SHARE:
        raise Hint(f"{what}, but only {improved:.0%} of the images gain at least half of what the check's "
                   f"optimiser gains on them (at least {MIN_IMAGES_IMPROVED:.0%} must): give every image of "
                   "the batch its own mu and logvar, and optimise them all.")
    raise Hint(f"{what}: {share:.0%} of it, short of {MIN_GAIN_SHARE:.0%}. Take more steps (a few hundred), "
               "average a few draws of eps per step, and let the learning rate decay towards 0 at the end, "
               "so the last steps are not spent jittering around the optimum.")


check_refined_posterior = Check(
    "refined_posterior", probe=_probe_refined_posterior, judge=_judge_refined_posterior, seeded=True,
    doc="""Exercise 'the amortization gap' (★★★): ``fn(decode, x, mu, logvar, generator)`` ->
    ``(mu, logvar, elbo)``, each image's own Gaussian, refined from the encoder's, and its ELBO.

    On a fresh small decoder with 2 and 6 latent dimensions the returned ``elbo`` (B,) must be the
    ELBO of the returned Gaussians within Monte Carlo noise, and those Gaussians must gain at least
    ``MIN_GAIN_SHARE`` of what the check's own optimiser gains over the encoder's, on average, and at
    least half of it on ``MIN_IMAGES_IMPROVED`` of the images.""")
