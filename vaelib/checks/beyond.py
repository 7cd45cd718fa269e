"""Checks for the exercises of chapter 9 (a VAE, a GAN and a diffusion model side by side).

Each check that runs the learner's code is split in two (see the instructor guide): a *probe*
that calls the learner's function on inputs it chooses and returns plain data, and a *judge*, a
pure function of that data that recomputes the reference answer from the recorded inputs and
returns the success message or raises :class:`~vaelib.checks.Hint`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import Check, Hint, MultipleChoice

__all__ = ["check_gan_likelihood_answer", "check_frechet_diagonal", "check_optimal_noise"]


check_gan_likelihood_answer = MultipleChoice(
    "gan_likelihood", correct="b",
    hints={
        "a": ("more training would not help: the number is missing for every GAN, however well "
              "trained. Ask what p(x) is for a model that maps z to x by a fixed function."),
        "c": ("the discriminator scores real against generated, it is not a density: at the "
              "game's end it outputs 1/2 everywhere, whatever p(x) is."),
        "d": ("the encoder only makes the VAE's estimate efficient (it proposes good z); the "
              "VAE would have a likelihood without one. What does the GAN lack that the VAE's "
              "decoder has?"),
    },
    success=("right: x = G(z) puts all samples on a thin surface of dimension at most that of z, "
             "so images off it have density zero and a test digit almost surely lies off it. A "
             "VAE's decoder adds pixel noise p(x|z), which spreads the mass over every image."),
    doc="Exercise 'why has the GAN no likelihood in the table?'.")


# ------------------------------------------------------------------ Fréchet, diagonal covariances

def _frechet_cases() -> list[dict[str, list[float]]]:
    gen = torch.Generator().manual_seed(9)
    cases = [
        {"mu1": [0.0], "var1": [1.0], "mu2": [0.0], "var2": [1.0]},  # identical: 0
        {"mu1": [1.0, -2.0], "var1": [4.0, 1.0], "mu2": [0.0, 0.0], "var2": [1.0, 1.0]},
    ]
    for d in (3, 16):
        mu1, mu2 = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
        var1, var2 = torch.rand(d, generator=gen) * 3 + 0.01, torch.rand(d, generator=gen) * 3 + 0.01
        cases.append({k: v.double().tolist() for k, v in
                      {"mu1": mu1, "var1": var1, "mu2": mu2, "var2": var2}.items()})
    return cases


def _frechet_reference(case: dict[str, list[float]]) -> float:
    mu1, var1, mu2, var2 = (torch.tensor(case[k], dtype=torch.float64) for k in ("mu1", "var1", "mu2", "var2"))
    return float((mu1 - mu2).pow(2).sum() + (var1.sqrt() - var2.sqrt()).pow(2).sum())


def _probe_frechet_diagonal(fn: Callable) -> dict:
    rows = []
    for case in _frechet_cases():
        args = [torch.tensor(case[k], dtype=torch.float64) for k in ("mu1", "var1", "mu2", "var2")]
        got = fn(*args)
        rows.append({"case": case, "got": float(got)})
    return {"rows": rows}


def _judge_frechet_diagonal(data: dict) -> str:
    rows = data["rows"]
    if [r["case"] for r in rows] != _frechet_cases():
        raise Hint("the inputs recorded are not the check's own; run the check cell unchanged.")
    for row in rows:
        case, got = row["case"], row["got"]
        want = _frechet_reference(case)
        if not math.isfinite(got):
            raise Hint(f"you returned {got} for means {case['mu1']} and variances {case['var1']}: "
                       "take square roots of variances, which are positive here.")
        if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
            continue
        mu1, var1, mu2, var2 = (torch.tensor(case[k], dtype=torch.float64) for k in ("mu1", "var1", "mu2", "var2"))
        mean_term = float((mu1 - mu2).pow(2).sum())
        if abs(got - math.sqrt(max(want, 0.0))) <= 1e-6 * max(1.0, want):
            raise Hint("you returned the distance itself; the Fréchet distance of the FID is its "
                       "square (no square root at the end).")
        if abs(got - (mean_term + float((var1 - var2).pow(2).sum()))) <= 1e-6 * max(1.0, want):
            raise Hint("you compared the variances; compare the standard deviations: "
                       "(sqrt(var1) - sqrt(var2))^2 per dimension.")
        if abs(got - float((var1 + var2 - 2 * (var1 * var2).sqrt()).sum())) <= 1e-6 * max(1.0, want):
            raise Hint("the covariance term is right; add the squared distance between the means.")
        if abs(got - want / len(case["mu1"])) <= 1e-6 * max(1.0, want):
            raise Hint("you averaged over dimensions; the distance sums over them.")
        raise Hint(f"for mu1={case['mu1'][:3]}..., var1={case['var1'][:3]}... you returned {got:.6g}, "
                   f"expected {want:.6g}: |mu1 - mu2|^2 + sum over dimensions of (sqrt(var1) - sqrt(var2))^2.")
    return (f"matches the closed form on {len(rows)} cases (up to 16 dimensions): with diagonal "
            "covariances the matrix square root is taken axis by axis.")


check_frechet_diagonal = Check("frechet_diagonal", probe=_probe_frechet_diagonal, judge=_judge_frechet_diagonal,
                              doc="Exercise 'the Fréchet distance of diagonal Gaussians'.")


# ------------------------------------------------------------------ the optimal noise predictor

def _noise_inputs() -> dict:
    gen = torch.Generator().manual_seed(16)
    return {"x_t": (torch.randn(12, generator=gen) * 2).double().tolist(),
            "alpha_bar": [0.999, 0.9, 0.5, 0.1, 0.01, 0.0001],
            "m": 1.5, "s": 0.3}


def _optimal_noise_reference(x_t: torch.Tensor, alpha_bar: float, m: float, s: float) -> torch.Tensor:
    # (x_t, eps) are jointly Gaussian: Cov(eps, x_t) = sqrt(1 - ab), Var(x_t) = ab s^2 + 1 - ab
    return math.sqrt(1 - alpha_bar) * (x_t - math.sqrt(alpha_bar) * m) / (alpha_bar * s**2 + 1 - alpha_bar)


def _probe_optimal_noise(fn: Callable) -> dict:
    inputs = _noise_inputs()
    x_t = torch.tensor(inputs["x_t"], dtype=torch.float64)
    outputs = []
    for ab in inputs["alpha_bar"]:
        got = fn(x_t.clone(), ab, inputs["m"], inputs["s"])
        got = torch.as_tensor(got, dtype=torch.float64)
        outputs.append(got.reshape(-1).tolist() if got.numel() == x_t.numel() else {"shape": list(got.shape)})
    return {"inputs": inputs, "outputs": outputs}


def _judge_optimal_noise(data: dict) -> str:
    inputs, outputs = data["inputs"], data["outputs"]
    if inputs != _noise_inputs():
        raise Hint("the inputs recorded are not the check's own; run the check cell unchanged.")
    x_t = torch.tensor(inputs["x_t"], dtype=torch.float64)
    m, s = inputs["m"], inputs["s"]
    for ab, got in zip(inputs["alpha_bar"], outputs, strict=True):
        if isinstance(got, dict):
            raise Hint(f"return one number per entry of x_t, shape {tuple(x_t.shape)}; got shape "
                       f"{tuple(got['shape'])}.")
        got_t = torch.tensor(got, dtype=torch.float64)
        want = _optimal_noise_reference(x_t, ab, m, s)
        if torch.allclose(got_t, want, rtol=1e-6, atol=1e-8):
            continue
        naive = (x_t - math.sqrt(ab) * m) / math.sqrt(1 - ab)  # as if x_0 were exactly m
        if torch.allclose(got_t, naive, rtol=1e-6, atol=1e-8):
            raise Hint("you solved x_t = sqrt(ab) m + sqrt(1 - ab) eps for eps, as if x_0 were always "
                       "m. x_0 varies too (standard deviation s): the best guess of eps shrinks "
                       "towards 0 by how much of x_t's variance the noise explains.")
        if torch.allclose(got_t, math.sqrt(1 - ab) * (x_t - math.sqrt(ab) * m) / (ab * s + 1 - ab),
                          rtol=1e-6, atol=1e-8):
            raise Hint("you used s where the variance s**2 belongs: Var(x_t) = ab * s**2 + 1 - ab.")
        if torch.allclose(got_t, -want, rtol=1e-6, atol=1e-8):
            raise Hint("the sign is flipped: a large x_t (above sqrt(ab) m) means the noise was "
                       "probably positive.")
        raise Hint(f"at alpha_bar = {ab} you returned {got_t[:3].tolist()}..., expected "
                   f"{want[:3].tolist()}...: E[eps | x_t] = Cov(eps, x_t) / Var(x_t) * (x_t - E[x_t]).")
    return ("the exact minimiser of the noise-prediction loss for Gaussian data: at alpha_bar near 1 "
            "it reads the noise off x_t, near 0 it is x_t itself.")


check_optimal_noise = Check("optimal_noise", probe=_probe_optimal_noise, judge=_judge_optimal_noise,
                           doc="Exercise 'the perfect denoiser for Gaussian data'.")
