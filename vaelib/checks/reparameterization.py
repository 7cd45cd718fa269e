"""Checks for the exercises of chapter 3 (gradients through sampling).

The chapter's Gaussian is q(z) = N(mu, exp(logvar)), sampled as z = mu + exp(logvar / 2) * eps
with eps ~ N(0, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import Check, Hint, MultipleChoice
from .wire import from_data, to_data

__all__ = [
    "variance_ratio_exact",
    "check_discrete_answer",
    "check_score_function_gradient",
    "check_variance_ratio",
    "check_differentiable_sample",
]


def variance_ratio_exact(c: float) -> float:
    """Var(score) / Var(pathwise) of the one-sample mu-gradient of E[(z - c)^2], z ~ N(0, 1).

    Score: (eps - c)^2 eps, variance 15 + 14 c^2 + c^4; pathwise: 2 (eps - c), variance 4.
    """
    return (15 + 14 * c**2 + c**4) / 4


_NOT_PATHWISE = ("z = 1[u < theta] is a step function of theta: its derivative is 0 wherever it "
                 "exists, so autograd returns 0 although the true gradient f(1) - f(0) is not 0. "
                 "The pathwise estimator needs z to be differentiable in theta.")


check_discrete_answer = MultipleChoice(
    "discrete_answer", correct="b",
    hints={
        "a": _NOT_PATHWISE,
        "c": _NOT_PATHWISE,
        "d": ("the score-function estimator only needs log p(z; theta) to be differentiable in "
              "theta, and log Bernoulli(z; theta) is."),
    },
    success=("right: the score-function estimator f(z) d/dtheta log p(z; theta) needs no "
             "derivative of z, so it works for discrete z; the pathwise one does not."),
    doc="Exercise 'a discrete latent': which estimator is unbiased for a Bernoulli z?")


def _test_function(z: torch.Tensor) -> torch.Tensor:
    return (z - 3.0) ** 2


_DRAWS = 200_000
_ROWS_COMPARED = 4096  # rows carried to the judge one by one; the rest through their mean and spread


def _score_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3 if seed is None else seed)
    mu = torch.tensor(0.5, dtype=torch.float64)
    logvar = torch.tensor(math.log(0.64), dtype=torch.float64)
    eps = torch.randn(_DRAWS, generator=gen, dtype=torch.float64)
    return mu, logvar, eps


def _probe_score_function_gradient(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    mu, logvar, eps = _score_inputs(seed)
    got = fn(_test_function, mu.clone(), logvar.clone(), eps.clone())
    if not isinstance(got, torch.Tensor):
        return {"seed": seed, "type": type(got).__name__}
    got = got.detach().to(torch.float64)
    summary = {"seed": seed, "shape": list(got.shape)}
    if got.dim() == 2 and got.shape[1] == 2:
        summary.update(head=to_data(got[:_ROWS_COMPARED]), mean=to_data(got.mean(0)),
                       std=to_data(got.std(0)))
    return summary


def _judge_score_function_gradient(data: dict) -> str:
    n = _DRAWS
    if "type" in data:
        raise Hint(f"return a tensor, not {data['type']}.")
    shape = tuple(int(v) for v in data["shape"])
    if shape == (2, n):
        raise Hint("you returned shape (2, N): put the two estimates in columns, "
                   "torch.stack([g_mu, g_logvar], dim=1), shape (N, 2).")
    if shape != (n, 2):
        raise Hint(f"return one row per draw with two columns (d/dmu, d/dlogvar), shape "
                   f"({n}, 2); got {shape}.")
    mu, logvar, eps = _score_inputs(data["seed"])
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    fz = _test_function(z)
    want = torch.stack([fz * eps / sigma, 0.5 * fz * (eps**2 - 1)], dim=1)
    head = from_data(data["head"]).to(torch.float64)
    mean, std = from_data(data["mean"]).to(torch.float64), from_data(data["std"]).to(torch.float64)
    k = _ROWS_COMPARED
    if head.shape != (k, 2) or mean.shape != (2,) or std.shape != (2,):
        raise ValueError("the summary of the estimates has the wrong shape")
    scale = want.abs().mean(0)
    if (not torch.allclose(head, want[:k], rtol=1e-6, atol=1e-8)
            or not torch.all((mean - want.mean(0)).abs() <= 1e-6 * scale + 1e-8)
            or not torch.all((std - want.std(0)).abs() <= 1e-6 * scale + 1e-8)):
        _score_hints(head, want[:k], fz[:k], eps[:k], sigma, z[:k])
        raise Hint("your estimates differ from f(z) * d/dtheta log q(z). With z = mu + sigma * "
                   "eps: d log q / d mu = eps / sigma and d log q / d logvar = (eps^2 - 1) / 2.")
    exact = torch.stack([2 * (mu - 3.0), sigma**2])  # d/dmu and d/dlogvar of (mu-3)^2 + sigma^2
    se = std / math.sqrt(n)
    return (f"right draw by draw; the average over {n} draws is ({mean[0]:.3f} ± {se[0]:.3f}, "
            f"{mean[1]:.3f} ± {se[1]:.3f}) against the exact ({exact[0]:.3f}, {exact[1]:.3f}).")


check_score_function_gradient = Check(
    "score_function_gradient", probe=_probe_score_function_gradient,
    judge=_judge_score_function_gradient, seeded=True,
    doc="""Exercise 'the score-function estimator': ``fn(f, mu, logvar, eps)`` -> (N, 2) estimates.

    Column 0 estimates d/dmu E_q[f(z)], column 1 d/dlogvar E_q[f(z)], one row per draw of eps.
    Checked draw by draw against the reference, then on average against the exact gradient.
    """)


def _score_hints(got, want, fz, eps, sigma, z) -> None:
    def close(a, b) -> bool:
        return bool(torch.allclose(a, b, rtol=1e-6, atol=1e-8))

    g_mu, g_lv = got[:, 0], got[:, 1]
    if close(got, want.flip(1)):
        raise Hint("your columns are swapped: column 0 is d/dmu, column 1 d/dlogvar.")
    if close(g_mu, 2 * (z - 3.0)) or close(g_lv, 2 * (z - 3.0) * 0.5 * sigma * eps):
        raise Hint("that is the pathwise estimator, f'(z) dz/dtheta. The score-function estimator "
                   "uses the value f(z) times d/dtheta log q(z), no derivative of f.")
    if close(g_mu, fz * eps):
        raise Hint("d log q / d mu = (z - mu) / sigma^2 = eps / sigma: you forgot to divide by sigma.")
    if close(g_mu, fz * eps / sigma**2):
        raise Hint("d log q / d mu = (z - mu) / sigma^2, and z - mu = sigma * eps, so it is "
                   "eps / sigma, not eps / sigma^2.")
    if not close(g_mu, want[:, 0]):
        raise Hint("column 0 (d/dmu) is off: it should be f(z) * eps / sigma.")
    if close(g_lv, fz * (eps**2 - 1)):
        raise Hint("column 1 is twice too large: logvar = 2 log sigma, so d log q / d logvar = "
                   "(eps^2 - 1) / 2.")
    if close(g_lv, 0.5 * fz * eps**2):
        raise Hint("column 1 misses the -1/2: log q contains -logvar / 2 (the normaliser), whose "
                   "derivative is -1/2. Without it the estimate is biased.")


_OFFSETS = (0.0, 1.0, 3.0)


def _probe_variance_ratio(fn: Callable[..., float]) -> dict:
    return {"got": [float(fn(c, n=200_000, seed=0)) for c in _OFFSETS]}


def _judge_variance_ratio(data: dict) -> str:
    offsets = _OFFSETS
    values = data["got"]
    if not isinstance(values, list) or len(values) != len(offsets):
        raise ValueError("one ratio per offset expected")
    got = {c: float(v) for c, v in zip(offsets, values, strict=True)}
    want = {c: variance_ratio_exact(c) for c in offsets}

    def all_near(values: dict[float, float], rtol: float = 0.1) -> bool:
        return all(abs(got[c] - values[c]) <= rtol * abs(values[c]) for c in offsets)

    if all_near(want):
        shown = ", ".join(f"c={c:g}: {got[c]:.1f} (exact {want[c]:.2f})" for c in offsets)
        return f"the ratio grows like c^4: {shown}."
    if all_near({c: 1 / w for c, w in want.items()}):
        raise Hint("your ratio is upside down: divide the score-function variance by the "
                   "pathwise variance.")
    if all_near({c: math.sqrt(w) for c, w in want.items()}):
        raise Hint("that is a ratio of standard deviations; square it (use .var(), not .std()).")
    if all_near({c: w * 4 for c, w in want.items()}):
        raise Hint("the pathwise gradient of (z - c)^2 is 2 (z - c): you left out the 2.")
    if all_near({c: w / 4 for c, w in want.items()}):
        raise Hint("the score-function estimate is (z - c)^2 * eps, without a factor 2.")
    if len({round(v, 3) for v in got.values()}) == 1:
        raise Hint("your ratio does not change with c: use c in the test function (z - c)^2.")
    shown = ", ".join(f"c={c:g}: {got[c]:.2f} (expected about {want[c]:.2f})" for c in offsets)
    raise Hint(f"{shown}. Per draw, score = (z - c)^2 * eps and pathwise = 2 * (z - c), with "
               "z = eps at mu = 0, sigma = 1; compare their variances over many draws.")


check_variance_ratio = Check(
    "variance_ratio", probe=_probe_variance_ratio, judge=_judge_variance_ratio,
    doc="""Exercise 'variance against the offset': ``fn(c, n, seed)`` -> Var(score) / Var(pathwise).

    Both are one-sample estimators of d/dmu E[(z - c)^2] at mu = 0, sigma = 1.
    """)


# ------------------------------------------------------------------ a sample gradients flow through

_SAMPLE_SHAPE = (2000, 3)


def _sample_inputs(seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11 if seed is None else seed)
    mu = torch.randn(3, generator=gen, dtype=torch.float64).expand(*_SAMPLE_SHAPE).contiguous()
    logvar = (torch.rand(3, generator=gen, dtype=torch.float64) * 2 - 1).expand(*_SAMPLE_SHAPE).contiguous()
    return mu, logvar


def _probe_differentiable_sample(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    mu, logvar = _sample_inputs(seed)
    mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = fn(mu, logvar)
    if not isinstance(z, torch.Tensor):
        return {"seed": seed, "type": type(z).__name__}
    out = {"seed": seed, "shape": list(z.shape), "requires_grad": bool(z.requires_grad)}
    if tuple(z.shape) != _SAMPLE_SHAPE:
        return out
    if z.requires_grad:
        z.sum().backward()  # dz/dmu and dz/dlogvar, draw by draw (each z_i depends on its own mu_i)
    grad = {name: (None if p.grad is None else to_data(p.grad.detach().double()))
            for name, p in (("mu", mu), ("logvar", logvar))}
    return {**out, "z": to_data(z.detach().double()), "grad": grad}


def _judge_differentiable_sample(data: dict) -> str:
    if "type" in data:
        raise Hint(f"return the sample as a tensor, not {data['type']}.")
    if tuple(int(v) for v in data["shape"]) != _SAMPLE_SHAPE:
        raise Hint(f"return one draw per entry of mu, shape {_SAMPLE_SHAPE}; got {tuple(data['shape'])}.")
    mu, logvar = _sample_inputs(data["seed"])
    z = from_data(data["z"]).to(torch.float64)
    eps = (z - mu) * torch.exp(-0.5 * logvar)  # the standardised draws
    mean, var = eps.mean(0), eps.var(0)
    n = _SAMPLE_SHAPE[0]
    if (mean.abs() > 5 / math.sqrt(n)).any() or ((var - 1).abs() > 5 * math.sqrt(2 / n)).any():
        raise Hint(f"(z - mu) / exp(logvar / 2) should be standard normal, but its mean is "
                   f"{mean.tolist()} and its variance {var.tolist()}: use the standard deviation "
                   "exp(0.5 * logvar), not the variance or the log-variance, and noise from torch.randn_like(mu).")
    if not data["requires_grad"]:
        raise Hint("your sample has no path back to mu and logvar (z.requires_grad is False): "
                   "Normal(...).sample() and anything under torch.no_grad() detach the draw. "
                   "Build it as mu + std * eps, or use Normal(...).rsample().")
    grad_mu, grad_logvar = (None if data["grad"][k] is None else from_data(data["grad"][k]).to(torch.float64)
                            for k in ("mu", "logvar"))
    if grad_mu is None or grad_logvar is None:
        raise Hint("z depends on only one of mu and logvar in autograd's graph; both must reach it.")
    if grad_mu.abs().max() == 0 and grad_logvar.abs().max() == 0:
        raise Hint("the sample carries a gradient, but it is exactly zero for mu and logvar: this is "
                   "torch.normal(mu, std), whose backward returns zeros. Write z = mu + std * eps "
                   "with eps = torch.randn_like(mu).")
    if not torch.allclose(grad_mu, torch.ones_like(grad_mu), atol=1e-6):
        raise Hint("dz/dmu should be 1 for every draw; add the noise to mu unchanged.")
    if not torch.allclose(grad_logvar, 0.5 * (z - mu), atol=1e-6):
        raise Hint("dz/dlogvar should be (z - mu) / 2; write std = torch.exp(0.5 * logvar).")
    return (f"a reparameterized sample: the standardised draws have a mean within {mean.abs().max():.3f} "
            f"of 0 and a variance within {(var - 1).abs().max():.3f} of 1, and dz/dmu = 1, "
            "dz/dlogvar = (z - mu) / 2 for all 6,000 draws.")


check_differentiable_sample = Check(
    "differentiable_sample", probe=_probe_differentiable_sample,
    judge=_judge_differentiable_sample, seeded=True,
    doc="""Exercise 'a sample gradients flow through': ``fn(mu, logvar)`` -> z of the same shape.

    Checks that z ~ N(mu, exp(logvar)) (standardised draws of mean 0 and variance 1) and that
    autograd gives dz/dmu = 1 and dz/dlogvar = (z - mu) / 2, which catches torch.normal (zero
    gradients) and Normal.sample() (no gradient path).""")


# ------------------------------------------------------------- exercise: a better baseline (★★★)
__all__ += ["check_control_variate", "MIN_VARIANCE_CUT"]

MIN_VARIANCE_CUT = 5  # the new estimator's variance must be at least this many times lower
_CV_BATCHES, _CV_DRAWS = 20_000, 10  # minibatches, and draws of eps in each
_CV_MAX_BIAS = 5.0  # standard errors


def _cv_cases(seed: int | None) -> list[dict]:
    """The chapter's f and q, a shifted quadratic and a step function (where autograd gives 0)."""
    gen = torch.Generator().manual_seed(5 if seed is None else seed)

    def uniform(low: float, high: float) -> float:
        return float(torch.empty((), dtype=torch.float64).uniform_(low, high, generator=gen))

    mu, sigma = uniform(-1, 1), uniform(0.5, 1.5)
    c = mu + sigma * uniform(2, 4) * (1 if uniform(0, 1) > 0.5 else -1)
    mu2, sigma2 = uniform(-1, 1), uniform(0.5, 1.5)
    c2, level = mu2 + sigma2 * uniform(-1, 1), uniform(2, 5)
    return [{"name": "the chapter's f(z) = (z - 3)^2", "kind": "quadratic", "c": 3.0, "mu": 0.5, "sigma": 0.8},
            {"name": f"f(z) = (z - {c:.2f})^2", "kind": "quadratic", "c": c, "mu": mu, "sigma": sigma},
            {"name": f"the step f(z) = {level:.2f} + 1[z > {c2:.2f}]", "kind": "step", "c": c2, "level": level,
             "mu": mu2, "sigma": sigma2}]


def _cv_function(case: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    c = case["c"]
    if case["kind"] == "quadratic":
        return lambda z: (z - c) ** 2
    level = case["level"]
    return lambda z: level + (z > c).to(z.dtype)


def _cv_exact(case: dict) -> float:
    mu, sigma, c = case["mu"], case["sigma"], case["c"]
    if case["kind"] == "quadratic":
        return 2 * (mu - c)  # d/dmu [(mu - c)^2 + sigma^2]
    a = (mu - c) / sigma  # d/dmu P(z > c) = phi((mu - c) / sigma) / sigma
    return math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / sigma


def _cv_eps(seed: int | None, index: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed((5 if seed is None else seed) * 31 + index)
    return torch.randn(_CV_BATCHES, _CV_DRAWS, generator=gen, dtype=torch.float64)


def _probe_control_variate(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    out = {"seed": seed, "cases": []}
    for index, case in enumerate(_cv_cases(seed)):
        f, eps = _cv_function(case), _cv_eps(seed, index)
        mu = torch.tensor(case["mu"], dtype=torch.float64)
        logvar = torch.tensor(2 * math.log(case["sigma"]), dtype=torch.float64)
        got = fn(f, mu.clone(), logvar.clone(), eps.clone())
        flipped = fn(f, mu.clone(), logvar.clone(), eps.flip(0).clone())  # the minibatches in reverse
        out["cases"].append({"got": to_data(got.detach() if isinstance(got, torch.Tensor) else got),
                             "flipped": to_data(flipped.detach() if isinstance(flipped, torch.Tensor) else flipped)})
    return out


def _judge_control_variate(data: dict) -> str:
    shown = []
    for index, (case, record) in enumerate(zip(_cv_cases(data["seed"]), data["cases"], strict=True)):
        got, flipped = from_data(record["got"]), from_data(record["flipped"])
        b = _CV_BATCHES
        if not isinstance(got, torch.Tensor) or not isinstance(flipped, torch.Tensor):
            raise Hint("return a tensor with one gradient estimate per minibatch, shape (B,).")
        if tuple(got.shape) != (b,) or tuple(flipped.shape) != (b,):
            raise Hint(f"eps has shape (B, N) = ({b}, {_CV_DRAWS}): B minibatches of N draws. Return one "
                       f"estimate of d/dmu E_q[f(z)] per minibatch, shape ({b},); got {tuple(got.shape)} "
                       "(average over the draws of a minibatch, dim=1).")
        got, flipped = got.double(), flipped.double()
        if not torch.isfinite(got).all():
            raise Hint(f"for {case['name']} some of your estimates are NaN or infinite.")
        scale = float(got.abs().mean()) + 1e-12
        if case["kind"] == "step" and float(got.abs().max()) < 1e-12:
            raise Hint(f"for {case['name']} your estimates are all 0: you differentiated f through z (the "
                       "pathwise estimator), but a step has derivative 0 wherever it exists. Keep the "
                       "score-function form: values of f (minus a baseline) times eps / sigma.")
        if float(got.abs().max()) < 1e-12:
            raise Hint(f"for {case['name']} your estimates are all 0: a baseline equal to f(z) itself "
                       "cancels the signal. The baseline must not depend on the draw it is subtracted from.")
        if float(got.std()) <= 1e-9 * scale:
            raise Hint(f"for {case['name']} all your minibatch estimates are the same number: each one must come from its own "
                       "minibatch's draws only (row b of eps), so that the check can measure its variance.")
        if not torch.allclose(flipped, got.flip(0), rtol=1e-6, atol=1e-9 * scale):
            raise Hint("your estimate for one minibatch changes when the *other* minibatches change: "
                       "use only the draws of row b of eps (a baseline may use the other draws of the same "
                       "minibatch, or constants).")
        f, eps = _cv_function(case), _cv_eps(data["seed"], index)
        mu, sigma = case["mu"], case["sigma"]
        plain = (f(mu + sigma * eps) * eps / sigma).mean(dim=1)  # the score-function estimator
        exact = _cv_exact(case)
        mean, se = float(got.mean()), float(got.std()) / math.sqrt(b)
        cut = float(plain.var() / got.var())
        if abs(mean - exact) > _CV_MAX_BIAS * se:
            _cv_bias_hint(case, mean, exact, se, got, plain)
        if cut < MIN_VARIANCE_CUT:
            if cut < 1.2:
                raise Hint(f"for {case['name']} your variance is {1 / cut:.2f} times the plain score-function "
                           "estimator's: nothing was subtracted. Subtract a baseline from f(z) before "
                           "multiplying by the score eps / sigma.")
            raise Hint(f"for {case['name']} your estimator is unbiased and its variance is {cut:.1f} times "
                       f"lower, short of {MIN_VARIANCE_CUT}. A constant baseline removes the level of f but not "
                       "its slope, and for a quadratic the slope term dominates. Subtract a baseline that is "
                       "linear in z - mu, b(z) = alpha + beta (z - mu), and add back its exact contribution "
                       "E_q[b(z) (z - mu) / sigma^2] = beta; beta can be f'(mu) or fitted on the other draws "
                       "of the minibatch.")
        shown.append(f"{cut:.0f}× lower variance for {case['name']} (bias {abs(mean - exact) / se:.1f} standard errors)")
    return ("unbiased on every case, " + "; ".join(shown) + ". The check used fresh draws, and a step "
            "function that autograd cannot differentiate.")


def _cv_bias_hint(case: dict, mean: float, exact: float, se: float, got: torch.Tensor, plain: torch.Tensor) -> None:
    off = f"{mean:.4f} on average where the gradient is {exact:.4f} ({abs(mean - exact) / se:.0f} standard errors off)"
    raise Hint(f"for {case['name']} your estimator is biased: {off}. A baseline b is allowed because "
               "E_q[b * score] = 0 when b does not depend on the draw; subtract it from f(z) before "
               "multiplying by the score (not from the product), keep the draw itself out of it (a "
               "minibatch mean that includes f(z_i) biases z_i's term), and if b depends on z, add back "
               "E_q[b(z) * score] exactly.")


check_control_variate = Check(
    "control_variate", probe=_probe_control_variate, judge=_judge_control_variate, seeded=True,
    doc="""Exercise 'a better baseline' (★★★): ``fn(f, mu, logvar, eps)`` -> (B,) estimates of d/dmu E_q[f(z)].

    ``eps`` holds B minibatches of N standard normal draws, shape (B, N). On fresh draws, for the
    chapter's f, a shifted quadratic and a step function, the estimates must be unbiased (within
    five standard errors) and their variance at least ``MIN_VARIANCE_CUT`` times lower than the
    plain score-function estimator's on the same draws.""")
