"""The playground page's VAE in PyTorch: the reference the in-page JavaScript is tested against.

``book/playground.md`` trains a small VAE on 2-D points in the reader's browser
(``book/_static/playground/playground.js``). This module is the same algorithm, step for step:

- one seeded random generator, mulberry32 for uniforms and Box-Muller for normals, written the same
  way in both languages, so the initial weights, every batch of data and every noise draw match;
- the model: encoder 2 -> H -> H -> (mu, logvar) and decoder D -> H -> H -> x_hat, tanh between
  layers, a Gaussian decoder with a fixed standard deviation ``sigma``;
- the objective in nats per example: distortion (the Gaussian negative log-likelihood, summed over
  the two coordinates) + beta * warm-up weight * rate (the closed-form KL to N(0, I), summed over
  latent dims), optionally with free bits: each latent dim's batch-averaged KL counts as at least
  ``free_bits`` nats (Kingma et al. 2016), so below it the encoder feels no pull to the prior;
- Adam, written out so that its arithmetic is the page's.

Everything is float64, in the page (Float64Array) as here; the browser tests compare the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

__all__ = ["DATASETS", "Mulberry32", "PlaygroundSettings", "Playground", "sample_data", "init_params",
           "encode", "decode", "objective", "loss_and_grads", "adam_step", "active_dims", "PARAM_NAMES"]

DATASETS = ("eight", "moons", "ring")
LATENT_SIZES = (1, 2)
LOG_2PI = math.log(2 * math.pi)
_MASK = 0xFFFFFFFF
# The layers in the order their weights are drawn (and listed): encoder, then decoder.
PARAM_NAMES = ("enc1", "enc2", "enc3", "dec1", "dec2", "dec3")


class Mulberry32:
    """mulberry32 (Tommy Ettinger's 32-bit generator): tiny, fast, and easy to match in JavaScript.

    Every operation is on unsigned 32-bit integers, as ``Math.imul`` and ``>>>`` make it in JS.
    """

    def __init__(self, seed: int):
        self.state = int(seed) & _MASK

    def uniform(self) -> float:
        """A float in [0, 1) with 32 random bits."""
        self.state = (self.state + 0x6D2B79F5) & _MASK
        a = self.state
        t = ((a ^ (a >> 15)) * (a | 1)) & _MASK
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & _MASK)) & _MASK) ^ t
        return ((t ^ (t >> 14)) & _MASK) / 4294967296.0

    def normal(self) -> float:
        """A standard normal draw by Box-Muller; it uses two uniforms and keeps only the cosine
        branch, so no state is carried between calls (simpler to keep identical in JS)."""
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)

    def normals(self, n: int) -> list[float]:
        return [self.normal() for _ in range(n)]


@dataclass(frozen=True)
class PlaygroundSettings:
    """One experiment of the page, as its URL hash stores it.

    Attributes:
        dataset: ``"eight"`` (eight Gaussians of std 0.1 on a circle of radius 2), ``"moons"``
            (two interleaved half circles) or ``"ring"`` (a circle of radius 2, radial std 0.1).
        latent_dim: 1 or 2.
        beta: weight of the rate term (β); 1 is the ELBO.
        sigma: the decoder's fixed standard deviation, in data units.
        lr: Adam's learning rate.
        warmup: if True the KL weight rises linearly from 0 to 1 over ``warmup_steps`` steps.
        free_bits: if > 0, each latent dim's batch-averaged KL counts as at least this many nats.
        batch: points per step, drawn afresh from the distribution each step.
        hidden: units per hidden layer.
        seed: the 32-bit seed of every random draw.
    """

    dataset: str = "eight"
    latent_dim: int = 2
    beta: float = 1.0
    sigma: float = 0.3
    lr: float = 3e-3
    warmup: bool = False
    warmup_steps: int = 1000
    free_bits: float = 0.0
    batch: int = 256
    hidden: int = 32
    seed: int = 1

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is unknown; use one of {', '.join(DATASETS)}.")
        if self.latent_dim not in LATENT_SIZES or isinstance(self.latent_dim, bool):
            raise ValueError(f"latent_dim must be 1 or 2 (the page draws a line or a plane), got {self.latent_dim!r}.")
        for name in ("batch", "hidden", "warmup_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        for name, low in (("beta", 0.0), ("free_bits", 0.0)):
            if not (getattr(self, name) >= low and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a finite number >= {low}, got {getattr(self, name)!r}.")
        for name in ("sigma", "lr"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a finite positive number, got {getattr(self, name)!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= _MASK:
            raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}.")

    def kl_weight(self, step: int) -> float:
        """β times the warm-up weight at ``step`` (0-based): with warm-up, step/warmup_steps up to 1."""
        return self.beta * (min(1.0, step / self.warmup_steps) if self.warmup else 1.0)


def sample_data(rng: Mulberry32, dataset: str, n: int) -> torch.Tensor:
    """``n`` points of ``dataset`` drawn from ``rng``: (n, 2) float64.

    The draws per point, in order (the page makes the same ones): eight Gaussians: the component,
    then two normals; moons: the moon, the angle, two normals; ring: the angle, one normal.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is unknown; use one of {', '.join(DATASETS)}.")
    out = []
    for _ in range(n):
        if dataset == "eight":
            k = min(7, math.floor(8 * rng.uniform()))
            angle = 2 * math.pi * k / 8
            out.append((2 * math.cos(angle) + 0.1 * rng.normal(), 2 * math.sin(angle) + 0.1 * rng.normal()))
        elif dataset == "moons":
            lower = rng.uniform() < 0.5
            t = math.pi * rng.uniform()
            x, y = (1 - math.cos(t), 0.5 - math.sin(t)) if lower else (math.cos(t), math.sin(t))
            # centred on the origin and widened to about the others' extent
            out.append((1.5 * (x - 0.5) + 0.1 * rng.normal(), 1.5 * (y - 0.25) + 0.1 * rng.normal()))
        else:
            angle = 2 * math.pi * rng.uniform()
            radius = 2 + 0.1 * rng.normal()
            out.append((radius * math.cos(angle), radius * math.sin(angle)))
    return torch.tensor(out, dtype=torch.float64).reshape(n, 2)


def layer_sizes(latent_dim: int, hidden: int) -> dict[str, tuple[int, int]]:
    """(out, in) of each layer."""
    return {"enc1": (hidden, 2), "enc2": (hidden, hidden), "enc3": (2 * latent_dim, hidden),
            "dec1": (hidden, latent_dim), "dec2": (hidden, hidden), "dec3": (2, hidden)}


def init_params(rng: Mulberry32, latent_dim: int, hidden: int = 32) -> dict[str, torch.Tensor]:
    """The starting weights: ``W`` ~ N(0, 1/fan_in) row by row (LeCun's scale, right for tanh), ``b`` = 0.

    Returns:
        ``{"enc1.W": (H, 2), "enc1.b": (H,), ...}``, float64, in the order of :data:`PARAM_NAMES`.
    """
    params = {}
    for name, (rows, cols) in layer_sizes(latent_dim, hidden).items():
        scale = 1.0 / math.sqrt(cols)
        w = torch.tensor(rng.normals(rows * cols), dtype=torch.float64).reshape(rows, cols) * scale
        params[f"{name}.W"] = w
        params[f"{name}.b"] = torch.zeros(rows, dtype=torch.float64)
    return params


def _layer(params, name, h):
    return h @ params[f"{name}.W"].T + params[f"{name}.b"]


def encode(params: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (B, 2) -> mu (B, D), logvar (B, D)."""
    h = torch.tanh(_layer(params, "enc2", torch.tanh(_layer(params, "enc1", x))))
    mu, logvar = _layer(params, "enc3", h).chunk(2, dim=1)  # (B, 2D) -> 2 x (B, D)
    return mu, logvar


def decode(params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """Codes (B, D) -> the decoder's means x_hat (B, 2)."""
    return _layer(params, "dec3", torch.tanh(_layer(params, "dec2", torch.tanh(_layer(params, "dec1", z)))))


def objective(params: dict[str, torch.Tensor], x: torch.Tensor, eps: torch.Tensor,
              settings: PlaygroundSettings, step: int = 0) -> dict[str, torch.Tensor]:
    """The training loss of one batch and its parts, all in nats per example (batch means).

    Args:
        x: data (B, 2); eps: the standard normal noise of the reparameterisation (B, D).
        step: 0-based step number, for the warm-up.

    Returns:
        ``loss`` (what Adam minimises), ``rate`` (the KL summed over latent dims, no free bits),
        ``distortion`` (the Gaussian NLL summed over the two coordinates) and ``kl_per_dim`` (D,).
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (B, 2), got {tuple(x.shape)}.")
    mu, logvar = encode(params, x)
    if eps.shape != mu.shape:
        raise ValueError(f"eps must have shape {tuple(mu.shape)} (batch, latent_dim), got {tuple(eps.shape)}.")
    z = mu + torch.exp(0.5 * logvar) * eps  # reparameterised sample
    x_hat = decode(params, z)
    s = settings.sigma
    distortion = (0.5 * ((x - x_hat) / s).pow(2) + math.log(s) + 0.5 * LOG_2PI).sum(1).mean()
    kl_per_dim = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)  # (D,), batch-averaged
    counted = kl_per_dim.clamp(min=settings.free_bits) if settings.free_bits > 0 else kl_per_dim
    loss = distortion + settings.kl_weight(step) * counted.sum()
    return {"loss": loss, "rate": kl_per_dim.sum(), "distortion": distortion, "kl_per_dim": kl_per_dim}


def loss_and_grads(params: dict[str, torch.Tensor], x: torch.Tensor, eps: torch.Tensor,
                   settings: PlaygroundSettings, step: int = 0) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The loss terms as floats and the gradient of ``loss`` for every parameter (autograd)."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    terms = objective(leaves, x, eps, settings, step)
    grads = torch.autograd.grad(terms["loss"], list(leaves.values()))
    return ({k: float(v.detach().sum()) if k != "kl_per_dim" else v.detach().tolist() for k, v in terms.items()},
            dict(zip(leaves, grads, strict=True)))


@dataclass
class AdamState:
    m: dict[str, torch.Tensor]
    v: dict[str, torch.Tensor]
    t: int = 0


def adam_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], state: AdamState, lr: float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """One Adam update in place (Kingma & Ba 2015, Algorithm 1; the form torch.optim.Adam uses)."""
    b1, b2 = betas
    state.t += 1
    c1, c2 = 1 - b1 ** state.t, 1 - b2 ** state.t
    for k, g in grads.items():
        state.m[k].mul_(b1).add_(g, alpha=1 - b1)
        state.v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
        params[k].sub_(lr * (state.m[k] / c1) / ((state.v[k] / c2).sqrt() + eps))


def active_dims(params: dict[str, torch.Tensor], x: torch.Tensor, threshold: float = 0.01) -> tuple[int, list[float]]:
    """Active latent dims (DESIGN: dim i is active when Var_x(E_q[z_i|x]) > 0.01) on points ``x``.

    Returns:
        The count and each dim's variance of the encoder mean (population variance over ``x``).
    """
    with torch.no_grad():
        mu, _ = encode(params, x)
    var = mu.var(0, unbiased=False)
    return int((var > threshold).sum()), var.tolist()


@dataclass
class Playground:
    """A training run as the page makes it: seeded streams, the model, Adam, the step counter.

    Four streams are seeded from ``settings.seed``: ``seed`` draws the initial weights,
    ``seed + 1`` each step's batch, ``seed + 2`` each step's noise, ``seed + 3`` the fixed points
    the page plots (so drawing never changes training).
    """

    settings: PlaygroundSettings = field(default_factory=PlaygroundSettings)

    def __post_init__(self):
        s = self.settings
        self.params = init_params(Mulberry32(s.seed), s.latent_dim, s.hidden)
        self.data_rng = Mulberry32((s.seed + 1) & _MASK)
        self.noise_rng = Mulberry32((s.seed + 2) & _MASK)
        self.adam = AdamState({k: torch.zeros_like(v) for k, v in self.params.items()},
                              {k: torch.zeros_like(v) for k, v in self.params.items()})
        self.step_count = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next step's data (B, 2) and noise (B, D)."""
        s = self.settings
        x = sample_data(self.data_rng, s.dataset, s.batch)
        eps = torch.tensor(self.noise_rng.normals(s.batch * s.latent_dim), dtype=torch.float64)
        return x, eps.reshape(s.batch, s.latent_dim)

    def step(self) -> dict[str, float]:
        """One Adam step on a fresh batch; returns that batch's loss, rate and distortion (before the update)."""
        x, eps = self.next_batch()
        terms, grads = loss_and_grads(self.params, x, eps, self.settings, self.step_count)
        adam_step(self.params, grads, self.adam, self.settings.lr)
        self.step_count += 1
        return terms

    def run(self, steps: int) -> list[dict[str, float]]:
        return [self.step() for _ in range(steps)]
