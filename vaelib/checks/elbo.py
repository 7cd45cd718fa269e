"""Checks for the exercises of chapter 2 (latent-variable models and the ELBO).

Every quantity is in nats. The linear-Gaussian model of the chapter is z ~ N(0, 1),
x | z ~ N(a z + b, s^2), with q(z) = N(m, exp(logvar)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.distributions import Independent, Normal, kl_divergence

from . import Check, Hint, MultipleChoice, attempt, attempted
from .wire import from_data, to_data, type_name

__all__ = [
    "linear_gaussian_elbo",
    "linear_gaussian_log_marginal",
    "linear_gaussian_posterior",
    "check_kl_two_gaussians",
    "check_elbo_linear_gaussian",
    "check_fit_q",
    "check_encoder_only",
]

_LOG_2PI = math.log(2 * math.pi)


def linear_gaussian_elbo(x, m, logvar, a, b, s):
    """ELBO(q) of q = N(m, exp(logvar)) in the linear-Gaussian model, in nats.

    Works on floats and on tensors (elementwise). ``E_q[log p(x|z)] + E_q[log p(z)] + H[q]``, with
    E_q[z] = m and E_q[z^2] = m^2 + v.
    """
    v = _exp(logvar)
    expected_log_lik = -0.5 * _log(2 * math.pi * s**2) - ((x - a * m - b) ** 2 + a**2 * v) / (2 * s**2)
    expected_log_prior = -0.5 * _LOG_2PI - (m**2 + v) / 2
    entropy = 0.5 * (_LOG_2PI + logvar + 1.0)
    return expected_log_lik + expected_log_prior + entropy


def linear_gaussian_log_marginal(x, a, b, s):
    """log p(x) = log N(x; b, a^2 + s^2) in the linear-Gaussian model, in nats."""
    var = a**2 + s**2
    return -0.5 * _log(2 * math.pi * var) - (x - b) ** 2 / (2 * var)


def linear_gaussian_posterior(x, a, b, s) -> tuple[float, float]:
    """(mean, log-variance) of p(z | x) in the linear-Gaussian model."""
    var = a**2 + s**2
    return a * (x - b) / var, _log(s**2 / var)


def _exp(t):
    return torch.exp(t) if isinstance(t, torch.Tensor) else math.exp(t)


def _log(t):
    return torch.log(t) if isinstance(t, torch.Tensor) else math.log(t)


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    return got.shape == want.shape and bool(torch.allclose(got, want, rtol=rtol, atol=atol))


# ---------------------------------------------------------------------------------------------


def _kl_inputs(seed: int | None = None) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(2 if seed is None else seed)
    shape = (5, 3)
    mu_q, mu_p = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(2))
    logvar_q, logvar_p = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(2))
    return mu_q, logvar_q, mu_p, logvar_p


def _probe_kl_two_gaussians(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    mu_q, logvar_q, mu_p, logvar_p = _kl_inputs(seed)
    got = to_data(fn(mu_q, logvar_q, mu_p, logvar_p))
    return {"seed": seed, "got": got, "same": attempt(fn, mu_q, logvar_q, mu_q, logvar_q)}


def _judge_kl_two_gaussians(data: dict) -> str:
    mu_q, logvar_q, mu_p, logvar_p = _kl_inputs(data["seed"])
    shape = tuple(mu_q.shape)
    want = kl_divergence(Independent(Normal(mu_q, (0.5 * logvar_q).exp()), 1),
                         Independent(Normal(mu_p, (0.5 * logvar_p).exp()), 1))
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return a tensor, not {type_name(got)}.")
    got = got.to(torch.float64)
    if got.shape == shape:
        raise Hint("you returned one KL per latent dimension, shape (B, D): sum over the "
                   "dimensions (dim=1) to get nats per example, shape (B,).")
    if got.dim() == 0:
        raise Hint("you returned one number for the whole batch: keep one KL per example, "
                   "shape (B,), by summing over dim=1 only.")
    if got.shape != want.shape:
        raise Hint(f"expected shape {tuple(want.shape)} (one KL per example), got {tuple(got.shape)}.")
    if _close(got, want):
        same = attempted(data["same"])
        if not isinstance(same, torch.Tensor):
            raise Hint(f"return a tensor, not {type_name(same)}.")
        if same.shape != want.shape or not torch.allclose(same.to(torch.float64), torch.zeros_like(want),
                                                           atol=1e-10):
            raise Hint("KL(q || q) must be 0, but your function gives "
                       f"{same.tolist()}. Check the constant terms.")
        return (f"matches torch.distributions.kl_divergence on {shape[0]} pairs of "
                f"{shape[1]}-D Gaussians (max error {float((got - want).abs().max()):.1e} nats), "
                "and KL(q || q) = 0.")
    _kl_hints(got, want, mu_q, logvar_q, mu_p, logvar_p)
    raise Hint(f"got {[round(v, 4) for v in got.tolist()]}, expected "
               f"{[round(v, 4) for v in want.tolist()]}. Per dimension the KL is "
               "1/2 (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1).")


check_kl_two_gaussians = Check(
    "kl_two_gaussians", probe=_probe_kl_two_gaussians, judge=_judge_kl_two_gaussians, seeded=True,
    doc="""Exercise 'KL between two diagonal Gaussians': nats per example, summed over dimensions.

    ``fn(mu_q, logvar_q, mu_p, logvar_p)`` gets four (B, D) float64 tensors and must return
    KL(q || p), shape (B,), checked against ``torch.distributions.kl_divergence``.
    """)


def _kl_hints(got, want, mu_q, logvar_q, mu_p, logvar_p) -> None:
    """Raise the hint for the first known mistake that explains ``got``."""
    def kl(mq, lq, mp, lp, var=torch.exp):
        return (0.5 * (lp - lq + (var(lq) + (mq - mp) ** 2) / var(lp) - 1)).sum(1)

    d = mu_q.shape[1]
    if _close(got, kl(mu_p, logvar_p, mu_q, logvar_q)):
        raise Hint("you computed KL(p || q), the other direction. The expectation is under q, "
                   "so q's variance goes in the numerator: exp(logvar_q) / exp(logvar_p).")
    if _close(got, -want):
        raise Hint("the sign is flipped: a KL divergence is never negative.")
    if _close(got, 2 * want):
        raise Hint("your values are twice the KL: you forgot the factor 1/2 in front.")
    if _close(got, want / d):
        raise Hint("you averaged over the latent dimensions: sum over them instead (a KL of "
                   "independent dimensions is the sum of the per-dimension KLs).")
    if _close(got, want + 0.5 * d):
        raise Hint("you left out the -1 in each dimension; with it, KL(q || q) = 0.")
    if _close(got, kl(mu_q, logvar_q, mu_p, logvar_p, var=lambda t: torch.exp(0.5 * t))):
        raise Hint("exp(0.5 * logvar) is the standard deviation; the formula needs the variance, "
                   "exp(logvar).")


_ELBO_CASES = [(3.0, 1.0, math.log(0.2), 2.0, 0.5, 1.0),   # q is the posterior here
               (3.0, 0.0, 0.0, 2.0, 0.5, 1.0),             # q is the prior
               (-1.0, 0.7, -0.4, 0.5, 1.5, 0.3)]


def _probe_elbo_linear_gaussian(fn: Callable[..., float]) -> dict:
    return {"got": [float(fn(*[torch.tensor(v, dtype=torch.float64) for v in args]))
                    for args in _ELBO_CASES]}


def _judge_elbo_linear_gaussian(data: dict) -> str:
    values = data["got"]
    if not isinstance(values, list) or len(values) != len(_ELBO_CASES):
        raise ValueError("one value per case expected")
    for args, got in zip(_ELBO_CASES, values, strict=True):
        got = float(got)
        want = linear_gaussian_elbo(*args)
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-8):
            continue
        _elbo_hints(got, *args)
        raise Hint(f"for x, m, logvar, a, b, s = {args} you give {got:.4f} nats, the ELBO is "
                   f"{want:.4f}. Write it as E_q[log p(x|z)] + E_q[log p(z)] + H[q], with "
                   "E_q[z] = m and E_q[z^2] = m^2 + v.")
    x, _, _, a, b, s = _ELBO_CASES[0]
    return (f"right on {len(_ELBO_CASES)} cases; at the posterior the ELBO is "
            f"{linear_gaussian_elbo(*_ELBO_CASES[0]):.4f} nats, equal to "
            f"log p(x) = {linear_gaussian_log_marginal(x, a, b, s):.4f}.")


check_elbo_linear_gaussian = Check(
    "elbo_linear_gaussian", probe=_probe_elbo_linear_gaussian, judge=_judge_elbo_linear_gaussian,
    doc="""Exercise 'the ELBO by hand': ``fn(x, m, logvar, a, b, s)`` -> ELBO in nats.

    Called with 0-d float64 tensors, so both ``math`` and ``torch`` functions work inside.
    """)


def _elbo_hints(got: float, x, m, logvar, a, b, s) -> None:
    v = math.exp(logvar)
    want = linear_gaussian_elbo(x, m, logvar, a, b, s)
    entropy = 0.5 * (_LOG_2PI + logvar + 1.0)
    log_prior = -0.5 * _LOG_2PI - (m**2 + v) / 2

    def near(value: float) -> bool:
        return math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-8)

    if near(want - entropy):
        raise Hint("you left out the entropy of q, -E_q[log q(z)] = 1/2 log(2 pi e v): the ELBO is "
                   "E_q[log p(x, z)] - E_q[log q(z)].")
    if near(want - 2 * entropy):
        raise Hint("the entropy enters with the wrong sign: the ELBO *adds* H[q] = 1/2 log(2 pi e v).")
    if near(want + a**2 * v / (2 * s**2) + v / 2):
        raise Hint("E_q[z^2] is m^2 + v, not m^2: the variance of q adds a^2 v / (2 s^2) and v / 2 "
                   "to the two squared terms.")
    if near(want - log_prior):
        raise Hint("you left out E_q[log p(z)], the prior term -1/2 log(2 pi) - (m^2 + v) / 2.")
    wrong_s = (-0.5 * math.log(2 * math.pi * s) - ((x - a * m - b) ** 2 + a**2 * v) / (2 * s)
               + log_prior + entropy)
    if near(wrong_s):
        raise Hint("s is the standard deviation of x | z: the variance s^2 goes in the "
                   "log-normaliser and the denominator.")


_FIT_MODELS = [(3.0, 2.0, 0.5, 1.0), (-1.0, 0.5, 1.5, 0.3)]


def _probe_fit_q(fn: Callable[..., tuple[float, float]]) -> dict:
    fitted = []
    for x, a, b, s in _FIT_MODELS:
        def elbo_fn(m, logvar, x=x, a=a, b=b, s=s):
            return linear_gaussian_elbo(x, m, logvar, a, b, s)

        out = fn(elbo_fn)
        if isinstance(out, tuple | list) and len(out) == 2:
            out = [float(torch.as_tensor(v).detach()) for v in out]
        fitted.append(to_data(out))
    return {"fitted": fitted}


def _judge_fit_q(data: dict) -> str:
    messages = []
    fitted = data["fitted"]
    if not isinstance(fitted, list) or len(fitted) != len(_FIT_MODELS):
        raise ValueError("one fit per model expected")
    for (x, a, b, s), out in zip(_FIT_MODELS, fitted, strict=True):
        out = from_data(out)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise Hint("return a pair (m, logvar) of the fitted q.")
        m, logvar = (float(v) for v in out)
        m_star, logvar_star = linear_gaussian_posterior(x, a, b, s)
        if not (math.isfinite(m) and math.isfinite(logvar)):
            raise Hint("your q has NaN or infinite parameters: did you *minimise* the ELBO? "
                       "Minimise the loss -elbo_fn(m, logvar).")
        if abs(m - m_star) < 1e-2 and abs(logvar - logvar_star) < 1e-2:
            gap = linear_gaussian_log_marginal(x, a, b, s) - linear_gaussian_elbo(x, m, logvar, a, b, s)
            messages.append(f"m = {m:.3f}, logvar = {logvar:.3f} (gap {gap:.1e} nats)")
            continue
        if abs(m - m_star) < 1e-2 and logvar > 0 and abs(math.log(logvar) - logvar_star) < 1e-2:
            raise Hint("you returned the variance; return the log-variance, the parameter you "
                       "optimised.")
        if linear_gaussian_elbo(x, m, logvar, a, b, s) < linear_gaussian_elbo(x, 0.0, 0.0, a, b, s):
            raise Hint("your q has a *lower* ELBO than the starting point N(0, 1): did you "
                       "minimise the ELBO? The loss to minimise is -elbo_fn(m, logvar).")
        raise Hint(f"for x={x}, a={a}, b={b}, s={s} the posterior has m = {m_star:.3f} and "
                   f"logvar = {logvar_star:.3f}; you found {m:.3f} and {logvar:.3f}. Take more "
                   "steps or a larger learning rate (Adam with lr=0.05 and 1000 steps is plenty).")
    return "gradient ascent reached the posterior in both models: " + "; ".join(messages) + "."


check_fit_q = Check(
    "fit_q", probe=_probe_fit_q, judge=_judge_fit_q,
    doc="""Exercise 'fit q by gradient ascent': ``fn(elbo_fn) -> (m, logvar)``.

    ``elbo_fn(m, logvar)`` takes two scalar tensors and returns the ELBO (a scalar tensor, nats).
    The fitted q must be the posterior of two linear-Gaussian models.
    """)


check_encoder_only = MultipleChoice(
    "encoder_only", correct="b",
    hints={
        "a": ("log p(x) is defined by the prior and the decoder alone; q does not appear in "
              "it. Which term of log p(x) = ELBO + KL can q change?"),
        "c": "the decoder's weights did not change, so neither did p(x | z).",
        "d": ("log p(x) = ELBO(q) + KL(q || p(z|x)) holds for every q, so a change in the ELBO "
              "at fixed log p(x) says something exact about the other term."),
    },
    success=("right: with the prior and decoder fixed, log p(x) is fixed, so the 5 nats gained "
             "by the ELBO are exactly 5 nats less KL between q and the true posterior."),
    doc="Exercise 'only the encoder changed': which statement follows from a 5-nat ELBO gain?")


# ------------------------------------------------------------- exercise: no Gaussian fits (★★★)
__all__ += ["check_best_gaussian_q", "squared_decoder_elbo", "squared_decoder_log_marginal",
            "best_gaussian_elbo", "Q_TOLERANCE"]

Q_TOLERANCE = 0.05  # nats: how far below the best Gaussian's ELBO an answer may be


def squared_decoder_elbo(x, m, logvar, s):
    """ELBO of q = N(m, exp(logvar)) when z ~ N(0, 1) and x | z ~ N(z^2, s^2), in nats.

    Closed form from the moments of q: E[z^2] = m^2 + v, E[z^4] = m^4 + 6 m^2 v + 3 v^2.
    Works on floats and tensors.
    """
    v = _exp(logvar)
    ez2, ez4 = m**2 + v, m**4 + 6 * m**2 * v + 3 * v**2
    expected_log_lik = -0.5 * _log(2 * math.pi * s**2) - (x**2 - 2 * x * ez2 + ez4) / (2 * s**2)
    return expected_log_lik - 0.5 * _LOG_2PI - ez2 / 2 + 0.5 * (_LOG_2PI + logvar + 1.0)


def squared_decoder_log_marginal(x: float, s: float) -> float:
    """log p(x) of the same model, by quadrature on a fine grid of z (nats)."""
    z = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    log_joint = (-0.5 * _LOG_2PI - z**2 / 2 - 0.5 * math.log(2 * math.pi * s**2) - (x - z**2) ** 2 / (2 * s**2))
    return float(torch.logsumexp(log_joint, 0) + math.log(float(z[1] - z[0])))


def best_gaussian_elbo(x: float, s: float) -> tuple[float, float, float]:
    """(m, logvar, ELBO) of the best Gaussian q, m >= 0 (the mirror image -m is as good)."""
    ms = torch.linspace(0, 4, 401, dtype=torch.float64)[:, None]
    ls = torch.linspace(-10, 3, 521, dtype=torch.float64)[None, :]
    grid = squared_decoder_elbo(x, ms, ls, s)
    i = int(torch.argmax(grid))
    m = ms[i // grid.shape[1], 0].clone().requires_grad_(True)
    logvar = ls[0, i % grid.shape[1]].clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([m, logvar], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -squared_decoder_elbo(x, m, logvar, s)
        loss.backward()
        return loss

    optimizer.step(closure)
    best = float(squared_decoder_elbo(x, m.detach(), logvar.detach(), s))
    if best < float(grid.max()):  # never worse than the grid's best
        return float(ms[i // grid.shape[1], 0]), float(ls[0, i % grid.shape[1]]), float(grid.max())
    return abs(float(m.detach())), float(logvar.detach()), best


def _q_cases(seed: int | None) -> list[tuple[float, float]]:
    """(x, s): two observations with a two-moded posterior, one with a single mode at 0."""
    if seed is None:
        return [(3.0, 0.5), (2.0, 0.4), (-0.5, 0.8)]
    gen = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float) -> float:
        return round(float(torch.empty((), dtype=torch.float64).uniform_(low, high, generator=gen)), 3)

    return [(uniform(2, 4), uniform(0.3, 0.7)), (uniform(1.5, 3), uniform(0.3, 0.7)), (uniform(-1, 0), uniform(0.5, 1))]


def _probe_best_gaussian_q(fn: Callable[..., tuple[float, float]], seed: int | None = None) -> dict:
    answers = []
    for x, s in _q_cases(seed):
        got = fn(x, s)
        try:
            m, logvar = (float(v) for v in got)
        except (TypeError, ValueError):
            return {"seed": seed, "type": type(got).__name__}
        answers.append([m, logvar])
    return {"seed": seed, "answers": answers}


def _judge_best_gaussian_q(data: dict) -> str:
    if "type" in data:
        raise Hint(f"return a pair of numbers (m, logvar), not {data['type']}.")
    shown = []
    for (x, s), (m, logvar) in zip(_q_cases(data["seed"]), data["answers"], strict=True):
        m, logvar = float(m), float(logvar)
        where = f"for x = {x}, s = {s}"
        if not (math.isfinite(m) and math.isfinite(logvar)):
            raise Hint(f"{where} you returned m = {m}, logvar = {logvar}: both must be finite numbers.")
        m_best, logvar_best, elbo_best = best_gaussian_elbo(x, s)
        elbo = float(squared_decoder_elbo(x, m, logvar, s))
        log_px = squared_decoder_log_marginal(x, s)
        if elbo >= elbo_best - Q_TOLERANCE:
            shown.append(f"x = {x}: m = {m:+.3f}, gap {log_px - elbo:.3f} nats (the best Gaussian's: "
                         f"{log_px - elbo_best:.3f})")
            continue
        short = (f"{where} your q = N({m:.3f}, exp({logvar:.3f})) has an ELBO {elbo_best - elbo:.3f} nats below "
                 "the best Gaussian's")
        bimodal = m_best > 0.1
        if abs(m) < 1e-9 and abs(logvar) < 1e-9:
            raise Hint(f"{short}: that is the prior N(0, 1), which ignores x. Maximise the ELBO over m and logvar.")
        if bimodal and abs(m) < 0.05 * m_best:
            if math.exp(logvar) > 0.5 * m_best**2:
                raise Hint(f"{short}: your q covers both modes ±{m_best:.2f} of the posterior with one wide "
                           "Gaussian centred between them, where p(x | z) is tiny. The ELBO's KL(q || p(z|x)) "
                           "punishes mass where the posterior has none: settle on one mode.")
            raise Hint(f"{short}: it sits at m = {m:.3f}, between the two modes ±{m_best:.2f}. By symmetry the "
                       "gradient in m is 0 at m = 0, so gradient ascent started there never leaves; it is a "
                       "saddle, not the maximum. Start from m > 0 (or m < 0).")
        if math.isclose(logvar, math.exp(logvar_best), rel_tol=0.05) and abs(abs(m) - m_best) < 0.05 * max(1, m_best):
            raise Hint(f"{short}: the mean is right, but {logvar:.3f} looks like the variance, exp(logvar); "
                       "return its logarithm.")
        if abs(abs(m) - m_best) < 0.05 * max(1.0, m_best):
            raise Hint(f"{short}: the mean is right, the variance is not (the best logvar is {logvar_best:.3f}). "
                       "Maximise over logvar as well.")
        raise Hint(f"{short}: the best has m = ±{m_best:.3f}, logvar = {logvar_best:.3f}. Write the ELBO in closed "
                   "form (E_q[z^4] = m^4 + 6 m^2 v + 3 v^2) and maximise it with Adam from a narrow q at a mode of "
                   "p(x | z), m = sqrt(x), or from several starts, keeping the best.")
    return ("within the tolerance of the best Gaussian in every case (either mode counts): " + "; ".join(shown)
            + ". The gap that remains is KL(q || p(z|x)): no Gaussian has two modes.")


check_best_gaussian_q = Check(
    "best_gaussian_q", probe=_probe_best_gaussian_q, judge=_judge_best_gaussian_q, seeded=True,
    doc="""Exercise 'a posterior no Gaussian fits' (★★★): ``fn(x, s)`` -> (m, logvar).

    In the model z ~ N(0, 1), x | z ~ N(z^2, s^2) the answer's ELBO must be within ``Q_TOLERANCE``
    nats of the best Gaussian q's, on fresh (x, s); either of the two mirror-image optima counts.""")
