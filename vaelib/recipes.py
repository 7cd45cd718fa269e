"""Training recipes: the chapter-4 VAE's (shared with ``bench/vae_quality.py``) and the sprites
β-VAE's of chapter 6 (:data:`SPRITES_RECIPE`), and the one way the course trains a new model.

A recipe is a VAE's size and everything about *how* it is trained, apart from the data and β: the
latent size and hidden layers, the budget in optimizer steps, the batch size, the learning rate
and its schedule, and whether the images are binarized afresh at every step. Keeping recipes as
data makes the comparison in the benchmark and the numbers in the book come from one definition.

:func:`train_vae` builds a recipe's VAE and trains it through :func:`vaelib.train.train_new_model`,
the one way the course trains a new model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import number
from .data import binarize
from .losses import elbo
from .models import VAE
from .schedules import cosine_lr
from .train import History, train_new_model

__all__ = ["Recipe", "PLAIN_RECIPE", "COURSE_RECIPE", "TWO_D_RECIPE", "SPRITES_RECIPE", "SPRITES_BETAS",
           "SPRITES_SEEDS", "train_vae"]

SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Recipe:
    """A VAE's size and how to train it (everything but the data and β).

    Attributes:
        name: a short label.
        steps: optimizer steps (the budget).
        batch_size: examples per step.
        lr: Adam's (peak) learning rate.
        schedule: ``"constant"``, or ``"cosine"`` (linear warm-up, then a cosine decay to 0).
        warmup: warm-up steps of the cosine schedule.
        latent_dim, hidden: the model's size.
        arch: ``"mlp"`` or ``"conv"`` (see :func:`vaelib.nets.make_encoder`).
        dynamic_binarization: train on a fresh Bernoulli draw of the images at every step (grey
            levels such as MNIST's); ``False`` uses the images as they are (data that is
            already binary, such as the sprites).
    """

    name: str
    steps: int
    batch_size: int = 100
    lr: float = 1e-3
    schedule: str = "constant"
    warmup: int = 0
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    arch: str = "mlp"
    dynamic_binarization: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is unknown; use one of {SCHEDULES}.")

    def __str__(self) -> str:
        """The recipe's fields in lines of at most 88 characters (a printed recipe fits the book's column)."""
        items = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.name != "name"]
        lines, line = [], f"Recipe {self.name!r}:"
        for item in items:  # a field and its value stay on one line
            if len(line) + len(item) + 2 > 88 and line.endswith(","):
                lines.append(line)
                line = "   "
            line += f" {item},"
        return "\n".join([*lines, line.rstrip(",")])

    def with_steps(self, steps: int) -> Recipe:
        """The same recipe with another budget (the schedule stretches with it)."""
        return dataclasses.replace(self, steps=steps)

    def describe(self) -> dict:
        return dataclasses.asdict(self)

    def lr_schedule(self) -> Callable[[int], float] | None:
        return cosine_lr(self.steps, self.warmup) if self.schedule == "cosine" else None


# Adam at 1e-3, batch 100, constant rate: the usual starting point (e.g. PyTorch's VAE example).
PLAIN_RECIPE = Recipe(name="plain", steps=7000)

# What the course uses, measured in bench/vae_quality.py: a three times higher peak rate that
# decays to zero along a cosine (large steps early, fine steps at the end); bench/claims.py
# checks the gain on several seeds.
COURSE_RECIPE = Recipe(name="course", steps=7000, lr=3e-3, schedule="cosine", warmup=300)

# Chapter 4's 2-D VAE: the course's recipe with a code one can plot, and fewer steps (two numbers
# per image take less to learn).
TWO_D_RECIPE = dataclasses.replace(COURSE_RECIPE, name="2-D", steps=3000, latent_dim=2)


def train_vae(recipe: Recipe, x: torch.Tensor, *, beta: float = 1.0,
              device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
              eval_fn: Callable[[torch.nn.Module], dict[str, float]] | None = None,
              eval_every: int | None = None) -> tuple[VAE, History]:
    """Build a Bernoulli VAE of the recipe's size and train it on ``x`` with ``recipe``.

    The loss is ``-(E_q[log p(x|z)] - beta * KL)`` in nats per image (sums over pixels and latent
    dimensions), so ``beta = 1`` is the plain VAE and every ``beta`` means the same thing on
    every image size.

    Args:
        recipe: the model's size and how to train it.
        x: training images in [0, 1], (N, C, H, W): grey levels, binarized afresh at every step
            when ``recipe.dynamic_binarization`` is set, or binary images used as they are.
        beta: the KL weight, positive (β-VAE; 1 is the plain VAE).
        device: where to train (default: ``x``'s device).
        seed: seeds the initialisation, the batch order and the sampling noise, so models trained
            with different ``beta`` start from the same weights and see the same batches.
        progress, eval_fn, eval_every: passed to :func:`vaelib.fit`.

    Returns:
        ``(model, history)``, the model in eval mode.

    Raises:
        ValueError: ``beta`` is not a positive number or ``x`` is not a batch of images.
    """
    beta = number("beta", beta, above=0, advice="1 is the plain VAE.")
    if x.dim() != 4:
        raise ValueError(f"x must be images of shape (N, C, H, W), got {tuple(x.shape)}.")
    beta = float(beta)

    def build() -> VAE:
        return VAE(recipe.latent_dim, hidden=recipe.hidden, image_shape=tuple(x.shape[1:]),
                   arch=recipe.arch)

    desc = f"VAE ({recipe.name} recipe)" if beta == 1 else f"β-VAE (β = {beta:g})"
    return train_new_model(build, lambda m, xb: elbo(m, xb, beta=beta), x, seed=seed, device=device,
                           steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
                           lr_schedule=recipe.lr_schedule(),
                           transform=binarize if recipe.dynamic_binarization else None,
                           progress=progress, eval_fn=eval_fn, eval_every=eval_every, desc=desc)


# ------------------------------------------------------------------ chapter 6: β-VAE on sprites
# Measured for chapter 6 on the default 32x32 sprites (6,144 binary images): an MLP trains the
# sweep (three β values on three seeds) and three β-TCVAEs in the chapter's budget on a 2-core
# CPU, where a conv net of the same quality takes several times longer per step. 1,000 steps keep
# every claim of bench/claims.py on three seeds; 1,500 moved the MIG by about 0.01 on average.
# Six latents for five factors: enough room for each factor to get its own latent, few enough
# that the β pressure must choose.
SPRITES_RECIPE = Recipe(name="sprites", steps=1000, batch_size=128, lr=3e-3, latent_dim=6,
                        hidden=(256, 128), dynamic_binarization=False)

# Chapter 6's sweep, shared with bench/claims.py: every β is trained on each seed, because the
# seed moves MIG as much as β does (Locatello et al. 2019). Three β values on three seeds keep
# the chapter's nine models within its CPU budget.
SPRITES_BETAS = (1, 4, 16)
SPRITES_SEEDS = (0, 1, 2)
