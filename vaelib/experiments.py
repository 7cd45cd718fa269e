"""The course's experiments, each written once: the chapters run them on seed 0, and
``bench/claims.py`` re-runs the same functions on other seeds to see whether a chapter's
comparison holds.

An experiment is a trained model with its settings (a function that seeds, builds and trains
through :func:`vaelib.train.train_new_model`, or a :class:`~vaelib.recipes.Recipe` trained by
:func:`~vaelib.recipes.train_vae`) and the measures a chapter reads from it. Measures that are not
tied to one experiment live in :mod:`vaelib.evaluate`.

By chapter:

- 4: :data:`~vaelib.recipes.COURSE_RECIPE`, :data:`~vaelib.recipes.PLAIN_RECIPE`,
  :data:`~vaelib.recipes.TWO_D_RECIPE`; :func:`latent_holes`, :func:`kl_per_dimension`
- 5: :data:`PATHOLOGY_SETTINGS` and :func:`pathology_vae`; :func:`diagnose`;
  :func:`gaussian_2d_vae` and :func:`rate_and_distortion`; :func:`prior_sample_scores`
- 5, 7, 9: :func:`digit_classifier`, the judge of generated digits
- 6: :func:`beta_vae_point` on the models of :data:`~vaelib.recipes.SPRITES_RECIPE`;
  :func:`beta_tcvae`, the same recipe with only the total correlation weighted by β, and
  :func:`kl_split`, where a trained model's KL goes
- 7: :func:`conditional_vae`, :func:`label_probe`
- 8: :func:`anomaly_models`, :func:`anomaly_score_sets`, :func:`labelled_subset`,
  :func:`few_label_accuracies`
- 9: :data:`PRIORS` and :func:`prior_vae`; :func:`prior_report`
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ._validation import integer, number
from .classifier import DigitClassifier, train_classifier
from .data import binarize, fixed_binarization
from .decomposition import beta_tc_elbo, kl_decomposition
from .evaluate import (
    active_units,
    anomaly_scores,
    classifier_confidence,
    encode_means,
    evaluate_elbo,
    far_from_data,
    importance_log_likelihood,
    linear_probe_accuracy,
    mutual_information_gap,
)
from .losses import (
    bernoulli_log_likelihood,
    conditional_elbo,
    elbo,
    kl_standard_normal,
    kl_standard_normal_per_dim,
)
from .models import VAE, Autoencoder, ConditionalVAE
from .recipes import COURSE_RECIPE, SPRITES_RECIPE, Recipe, train_vae
from .schedules import cosine_lr, cyclical, linear_warmup
from .train import History, train_new_model

__all__ = [
    "CLASSIFIER_STEPS", "digit_classifier",
    "latent_holes", "kl_per_dimension",
    "PathologySetting", "PATHOLOGY_STEPS", "PATHOLOGY_SETTINGS", "pathology_vae", "diagnose",
    "GAUSSIAN_2D_STEPS", "GAUSSIAN_2D_SIGMAS", "gaussian_2d_vae", "rate_and_distortion",
    "prior_sample_scores",
    "beta_vae_point", "SPRITES_TC_BETA", "SPRITES_TC_STEPS", "beta_tcvae", "kl_split",
    "CVAE_STEPS", "conditional_vae", "label_probe",
    "ANOMALY_STEPS", "anomaly_models", "anomaly_score_sets", "labelled_subset", "few_label_accuracies",
    "PRIOR_STEPS", "PRIORS", "prior_vae", "prior_report",
]


def _device_of(x: torch.Tensor, device) -> torch.device:
    return torch.device(device) if device is not None else x.device


# ------------------------------------------------------------------ the judge of generated digits
CLASSIFIER_STEPS = 1000  # about 99% of the training digits, 93% of the test digits on the subset


def digit_classifier(x: torch.Tensor, y: torch.Tensor, *, seed: int = 0, steps: int = CLASSIFIER_STEPS,
                     progress: bool = True) -> DigitClassifier:
    """The digit classifier that chapters 5, 7 and 9 use to judge generated digits."""
    return train_classifier(x, y, steps=steps, seed=seed, progress=progress)[0]


# ------------------------------------------------------------------ chapter 4
@torch.no_grad()
def latent_holes(model, train_x: torch.Tensor, x_test: torch.Tensor, *, draws: int = 1000,
                 extent: float = 2.5, seed: int = 0) -> dict[str, float]:
    """Chapter 4's holes in a 2-D code: the share of uniform codes in ±``extent`` and of prior
    draws that lie farther from every training code than 95% of test codes do
    (:func:`vaelib.evaluate.far_from_data`).

    The training codes are those of one fixed binarization of ``train_x`` (the encoder was
    trained on binary digits); ``x_test`` is the binary test set.
    """
    draws = integer("draws", draws, at_least=1)
    extent = number("extent", extent, above=0)
    if model.latent_dim != 2:
        raise ValueError(f"latent_holes measures a 2-D code; this model's code has {model.latent_dim} "
                         "dimensions.")
    z_train = encode_means(model, fixed_binarization(train_x))
    z_test = encode_means(model, x_test)
    box = 2 * extent * torch.rand(draws, 2, generator=torch.Generator().manual_seed(seed)) - extent
    prior = torch.randn(draws, 2, generator=torch.Generator().manual_seed(seed))
    return {"uniform": far_from_data(box, z_train, z_test)[0].float().mean().item(),
            "prior": far_from_data(prior, z_train, z_test)[0].float().mean().item()}


@torch.no_grad()
def kl_per_dimension(model, x: torch.Tensor) -> torch.Tensor:
    """KL(q(z_i|x) || N(0, 1)) of each latent dimension, averaged over ``x``: (D,) nats on the CPU."""
    mu, logvar = model.encode(x)
    return kl_standard_normal_per_dim(mu, logvar).mean(0).cpu()


# ------------------------------------------------------------------ chapter 5: what goes wrong
PATHOLOGY_STEPS = 1500  # optimizer steps per chapter-5 model: about 10 s each on a laptop CPU
SCHEDULES = ("constant", "warm-up", "cyclical")


@dataclass(frozen=True)
class PathologySetting:
    """How one of chapter 5's 784-400-20 VAEs is trained: the loss's weights and the decoder.

    Attributes:
        beta: the KL weight (1: the ELBO; 0: no KL term at all).
        schedule: ``"constant"``; ``"warm-up"``: the KL weight climbs from 0 to 1 over the first
            half of training; ``"cyclical"``: four climbs from 0 to 1.
        free_bits: nats per latent dimension that are not penalised (0: off).
        likelihood: ``"bernoulli"`` or ``"gaussian"`` (the decoder's p(x|z)).
        learn_sigma: with a Gaussian decoder, learn σ (starting at 1) instead of keeping σ = 1.
    """

    beta: float = 1.0
    schedule: str = "constant"
    free_bits: float = 0.0
    likelihood: str = "bernoulli"
    learn_sigma: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is unknown; use one of {SCHEDULES}.")

    def loss(self, steps: int) -> Callable:
        """``loss(model, x, step)`` for :func:`vaelib.fit`, its KL schedule stretched over ``steps``."""
        weight = {"constant": lambda step: 1.0, "warm-up": linear_warmup(steps // 2),
                  "cyclical": cyclical(steps, cycles=4)}[self.schedule]
        return lambda m, x, step: elbo(m, x, beta=self.beta, kl_weight=weight(step), free_bits=self.free_bits)

    def model_args(self) -> dict:
        if self.likelihood == "bernoulli":
            return {}
        return {"likelihood": self.likelihood, "sigma": 1.0, "learn_sigma": self.learn_sigma}


PATHOLOGY_SETTINGS = {
    "β = 1": PathologySetting(),
    "β = 8": PathologySetting(beta=8.0),
    "β = 8, warm-up": PathologySetting(beta=8.0, schedule="warm-up"),
    "β = 8, free bits": PathologySetting(beta=8.0, free_bits=1.0),
    "Gaussian σ = 1": PathologySetting(likelihood="gaussian"),
    "Gaussian, learned σ": PathologySetting(likelihood="gaussian", learn_sigma=True),
    "β = 0": PathologySetting(beta=0.0),
}


def pathology_vae(setting: str | PathologySetting, x: torch.Tensor, *, seed: int = 0,
                  steps: int = PATHOLOGY_STEPS, loss: Callable | None = None, device=None,
                  progress: bool = True) -> VAE:
    """A fresh 784-400-20 VAE trained on dynamically binarized ``x`` (Adam 1e-3, batch 100).

    Args:
        setting: a name of :data:`PATHOLOGY_SETTINGS` or a :class:`PathologySetting`.
        x: training images in [0, 1], (N, 1, 28, 28).
        loss: a loss ``loss(model, x, step)`` to train with instead of the setting's (chapter 5's
            mistaken per-pixel mean); the setting then only chooses the decoder.
    """
    if isinstance(setting, str):
        if setting not in PATHOLOGY_SETTINGS:
            raise ValueError(f"setting {setting!r} is unknown; use one of {list(PATHOLOGY_SETTINGS)} "
                             "or a PathologySetting.")
        name, setting = setting, PATHOLOGY_SETTINGS[setting]
    else:
        name = str(setting)
    if loss is not None:
        name = "own loss"
    loss_fn = loss if loss is not None else setting.loss(steps)
    model, _ = train_new_model(lambda: VAE(20, hidden=(400,), **setting.model_args()), loss_fn, x,
                               seed=seed, device=_device_of(x, device), steps=steps, lr=1e-3,
                               transform=binarize, progress=progress, desc=f"VAE, {name}")
    return model


@torch.no_grad()
def diagnose(model, x_test: torch.Tensor) -> dict:
    """Chapter 5's diagnosis of a trained VAE on the binary test set: the ELBO's terms (nats per
    image), the active units, the dimensions whose KL exceeds 0.1 nat, the KL of each dimension
    (a (D,) tensor), the squared error of the decoder's mean per image, and σ of a Gaussian
    decoder (NaN for a Bernoulli one)."""
    terms = evaluate_elbo(model, x_test)
    count, _ = active_units(model, x_test)
    kl_dims = kl_per_dimension(model, x_test)
    squared = (model.reconstruct(x_test) - x_test).pow(2).flatten(1).sum(1).mean().item()
    sigma = model.log_sigma.exp().item() if model.likelihood == "gaussian" else float("nan")
    return {**terms, "active_units": count, "informative": int((kl_dims > 0.1).sum()), "kl_dims": kl_dims,
            "squared_error": squared, "sigma": sigma}


GAUSSIAN_2D_STEPS = 1000
GAUSSIAN_2D_SIGMAS = {"σ = 1": 1.0, "σ = 0.3": 0.3, "σ = 0.1": 0.1, "learned σ": None}


def gaussian_2d_vae(sigma: float | None, x: torch.Tensor, *, seed: int = 0, steps: int = GAUSSIAN_2D_STEPS,
                    device=None, progress: bool = True) -> VAE:
    """A 784-256-2 VAE with a Gaussian decoder of fixed ``sigma`` (``None``: σ learned from 1),
    trained on the grey-level images ``x`` (Adam 1e-3, batch 100)."""
    label = "learned σ" if sigma is None else f"σ = {sigma}"
    model, _ = train_new_model(
        lambda: VAE(2, hidden=(256,), likelihood="gaussian", sigma=sigma or 1.0, learn_sigma=sigma is None),
        lambda m, xb: elbo(m, xb), x, seed=seed, device=_device_of(x, device), steps=steps, lr=1e-3,
        progress=progress, desc=f"Gaussian 2-D VAE, {label}")
    return model


@torch.no_grad()
def rate_and_distortion(model, x: torch.Tensor) -> dict[str, float]:
    """The rate (KL, nats per image), the distortion (squared error of the decoder's mean per
    image) on ``x``, and the decoder's σ."""
    mu, logvar = model.encode(x)
    return {"rate": kl_standard_normal(mu, logvar).mean().item(),
            "distortion": (model.reconstruct(x) - x).pow(2).flatten(1).sum(1).mean().item(),
            "sigma": model.log_sigma.exp().item()}


@torch.no_grad()
def prior_sample_scores(model, classifier, *, n: int = 1000, seed: int = 2) -> tuple[torch.Tensor, dict]:
    """``n`` decoded prior draws and the classifier's verdict on them
    (:func:`vaelib.evaluate.classifier_confidence`)."""
    samples = model.sample(n, generator=torch.Generator().manual_seed(seed))
    return samples, classifier_confidence(classifier, samples)


# ------------------------------------------------------------------ chapter 6: β-VAE on sprites
@torch.no_grad()
def beta_vae_point(model, sprites) -> dict:
    """One point of chapter 6's sweep, on the training sprites (there are no others): rate and
    distortion (nats per image), the MIG of the posterior means against the canonical factors
    (:func:`vaelib.evaluate.mutual_information_gap`), and the active units with their variances."""
    terms = evaluate_elbo(model, sprites.x)
    codes = encode_means(model, sprites.x)
    mig = mutual_information_gap(codes, sprites.canonical_factor_indices().cpu(),
                                 factor_names=sprites.factor_names)
    active, variances = active_units(model, sprites.x)
    return {"rate": terms["kl"], "distortion": -terms["reconstruction"], "mig": mig,
            "active": active, "variances": variances}


# Chapter 6's β-TCVAE, trained beside its β-VAEs on the same seeds: β is one of SPRITES_BETAS, so
# that each seed gives a β-VAE and a β-TCVAE with the same β, start and batches (the benchmark
# bench/sprites_disentanglement.py's shipped results train β = 4 and 16 for 1,500 steps). The
# chapter gives each β-TCVAE 400 of the recipe's steps, which keeps its three of them within the
# chapter's CPU budget on top of the nine β-VAEs (a β-TCVAE step costs about 1.4 β-VAE steps).
SPRITES_TC_BETA = 4
SPRITES_TC_STEPS = 400


def beta_tcvae(beta: float, sprites, *, seed: int = 0, steps: int | None = None,
               recipe: Recipe = SPRITES_RECIPE, device=None,
               progress: bool = True) -> tuple[VAE, History]:
    """Chapter 6's β-TCVAE: the β-VAE's recipe with only the total correlation weighted by β.

    The model, the optimizer, the batches and the sampling noise are those of
    ``train_vae(recipe, sprites.x, beta=beta, seed=seed)``; only the loss differs:
    :func:`vaelib.decomposition.beta_tc_elbo`, ``-E[log p(x|z)] + KL + (β - 1) TC`` in nats per
    image, the total correlation estimated on each batch with the stratified estimator over all
    ``len(sprites.x)`` images. With one seed a β-TCVAE and a β-VAE start from the same weights and
    see the same batches, so they differ only in what β multiplies; at β = 1 both are the plain VAE.

    Args:
        beta: the weight of the total correlation, positive (1: the plain VAE).
        sprites: the training set, anything with the images as ``.x``, (N, C, H, W) in [0, 1]
            (:func:`vaelib.make_sprites`); a bare tensor of images is accepted too.
        seed: seeds the initial weights, the batch order and the sampling noise.
        steps: optimizer steps (default: the recipe's); the learning-rate schedule stretches with it.
        recipe: the model's size and how to train it (default: the β-VAE's of chapter 6).
        device: where to train (default: the images' device).
        progress: show a progress bar.

    Returns:
        ``(model, history)``, the model in eval mode; measure it with :func:`beta_vae_point` and
        :func:`kl_split`.

    Raises:
        ValueError: ``beta`` not a positive number, ``steps`` or ``seed`` not an integer, images
            that are not a batch of at least ``recipe.batch_size`` images of shape (N, C, H, W).
    """
    beta = number("beta", beta, above=0, advice="1 is the plain VAE.")
    seed = integer("seed", seed)
    steps = recipe.steps if steps is None else integer("steps", steps, at_least=1)
    x = sprites if isinstance(sprites, torch.Tensor) else getattr(sprites, "x", None)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(sprites).__name__
        raise ValueError(f"sprites must be a sprite set (vaelib.make_sprites()) or images of shape "
                         f"(N, C, H, W); got {got}.")
    if x.shape[0] < recipe.batch_size:
        raise ValueError(f"{x.shape[0]} images are fewer than one batch of {recipe.batch_size}: the "
                         "total correlation is estimated from a batch drawn from the training set.")
    recipe = recipe.with_steps(steps)
    n = x.shape[0]

    def build() -> VAE:  # the model train_vae builds, so that a seed gives the same start
        return VAE(recipe.latent_dim, hidden=recipe.hidden, image_shape=tuple(x.shape[1:]),
                   arch=recipe.arch)

    return train_new_model(build, lambda m, xb: beta_tc_elbo(m, xb, beta=beta, dataset_size=n), x,
                           seed=seed, device=_device_of(x, device), steps=recipe.steps,
                           batch_size=recipe.batch_size, lr=recipe.lr, lr_schedule=recipe.lr_schedule(),
                           transform=binarize if recipe.dynamic_binarization else None,
                           progress=progress, desc=f"β-TCVAE (β = {beta:g})")


@torch.no_grad()
def kl_split(model, x: torch.Tensor, *, batch: int = 1024, seed: int = 0) -> dict[str, float]:
    """Where a trained model's KL goes on ``x``: index-code MI, total correlation and
    dimension-wise KL, nats per image (:func:`vaelib.decomposition.kl_decomposition`).

    ``x`` is shuffled (seeded) and cut into batches of ``batch`` images (a remainder smaller than
    a batch is left out); each batch's terms are estimated with the stratified estimator against
    the whole of ``x``, one posterior draw per image, and the batch sums are averaged. The three
    terms sum to the one-sample estimate of the KL, returned as ``kl``.
    """
    batch = integer("batch", batch, at_least=2)
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < batch:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must hold at least one batch of {batch} images, got {got}; pass a "
                         "smaller batch or more images.")
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=x.device).manual_seed(seed)
    sums, count = dict.fromkeys(("mi", "tc", "dwkl", "kl"), 0.0), 0
    for start in range(0, x.shape[0] - batch + 1, batch):
        mu, logvar = model.encode(x[order[start:start + batch].to(x.device)])
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=mu.device,
                                                       dtype=mu.dtype)
        terms = kl_decomposition(z, mu, logvar, dataset_size=x.shape[0])
        for k in sums:
            sums[k] += float(terms[k].sum())
        count += z.shape[0]
    return {k: v / count for k, v in sums.items()}


# ------------------------------------------------------------------ chapter 7: the conditional VAE
CVAE_STEPS = 2000


def conditional_vae(latent_dim: int, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                    steps: int = CVAE_STEPS, device=None, progress: bool = True) -> ConditionalVAE:
    """A conditional VAE trained on dynamically binarized ``x`` with labels ``y``: Adam at 3e-3 with
    200 warm-up steps and a cosine decay (the course's recipe, shorter)."""
    model, _ = train_new_model(lambda: ConditionalVAE(latent_dim), conditional_elbo, x, y=y, seed=seed,
                               device=_device_of(x, device), steps=steps, lr=3e-3,
                               lr_schedule=cosine_lr(steps, 200), transform=binarize, progress=progress,
                               desc=f"CVAE, d = {latent_dim}")
    return model


def label_probe(model, train, test) -> float:
    """How much of the label a linear probe reads from a conditional VAE's code: test accuracy of a
    probe trained on the posterior means of ``train`` (each encoded with its own label)."""
    with torch.no_grad():
        mu_train, _ = model.encode(train.x, train.y)
        mu_test, _ = model.encode(test.x, test.y)
    return linear_probe_accuracy(mu_train, train.y, mu_test, test.y)


# ------------------------------------------------------------------ chapter 8: applications
ANOMALY_STEPS = 1500


def anomaly_models(held_out: int, train, *, seed: int = 0, steps: int = ANOMALY_STEPS, device=None,
                   progress: bool = True) -> tuple[VAE, Autoencoder]:
    """Chapter 8's detectors for one held-out digit: a VAE (the course's recipe with ``steps``) and
    an autoencoder (Adam 1e-3, the same steps), both trained on the other nine digits."""
    held_out = integer("held_out", held_out, at_least=0)
    normal = train.x[train.y != held_out]
    vae, _ = train_vae(COURSE_RECIPE.with_steps(steps), normal, device=device, seed=seed, progress=progress)
    ae, _ = train_new_model(lambda: Autoencoder(20),
                            lambda m, xb: {"loss": -bernoulli_log_likelihood(m(xb), xb).mean()},
                            normal, seed=seed, device=_device_of(normal, device), steps=steps, lr=1e-3,
                            transform=binarize, progress=progress, desc=f"autoencoder, without {held_out}s")
    return vae, ae


def anomaly_score_sets(vae, ae, x: torch.Tensor, *, samples: int = 100) -> dict[str, torch.Tensor]:
    """Chapter 8's three anomaly scores of every image of the binary ``x`` (higher: more unusual):
    the VAE's -ELBO, its importance-sampled -log p(x) with ``samples`` draws, and the
    autoencoder's reconstruction error (:func:`vaelib.evaluate.anomaly_scores`)."""
    return {"VAE -ELBO": anomaly_scores(vae, x, score="elbo"),
            f"VAE -log p(x), K = {samples}": anomaly_scores(vae, x, score="importance", samples=samples),
            "AE reconstruction error": anomaly_scores(ae, x, score="reconstruction")}


def labelled_subset(y: torch.Tensor, n_per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``n_per_class`` random examples of each class of ``y`` (on the CPU), class by class."""
    n_per_class = integer("n_per_class", n_per_class, at_least=1)
    gen = torch.Generator().manual_seed(seed)
    y = y.cpu()
    picks = [torch.nonzero(y == k).flatten() for k in range(int(y.max()) + 1)]
    return torch.cat([p[torch.randperm(len(p), generator=gen)[:n_per_class]] for p in picks])


def few_label_accuracies(vae, train, test, n_per_class: Sequence[int], *, seed: int = 0) -> dict[str, float]:
    """Test accuracy of a linear probe on the VAE's codes and on raw pixels, trained on
    ``n`` labelled examples per class for each ``n`` (the same examples for both)."""
    features = {"codes": (encode_means(vae, train.x), encode_means(vae, test.x)),
                "pixels": (train.x.flatten(1).cpu(), test.x.flatten(1).cpu())}
    y_train, y_test = train.y.cpu(), test.y.cpu()
    out = {}
    for n in n_per_class:
        idx = labelled_subset(y_train, n, seed)
        for name, (f_train, f_test) in features.items():
            out[f"{name}, {n} labels per class"] = linear_probe_accuracy(f_train[idx], y_train[idx], f_test, y_test)
    return out


# ------------------------------------------------------------------ chapter 9: learned priors
PRIOR_STEPS = 1500
PRIORS = {"N(0, I)": None,
          "mixture of 10 Gaussians": {"kind": "mixture", "components": 10},
          "VampPrior, 50 pseudo-inputs": {"kind": "vamp", "components": 50}}


def prior_vae(prior: str | dict | None, x: torch.Tensor, *, seed: int = 0, steps: int = PRIOR_STEPS,
              device=None, progress: bool = True) -> VAE:
    """A 784-256-2 Bernoulli VAE with the given prior (a name of :data:`PRIORS` or a prior spec),
    trained on dynamically binarized ``x`` (Adam 1e-3, batch 100)."""
    if isinstance(prior, str):
        if prior not in PRIORS:
            raise ValueError(f"prior {prior!r} is unknown; use one of {list(PRIORS)} or a prior spec.")
        prior = PRIORS[prior]
    model, _ = train_new_model(lambda: VAE(2, hidden=(256,), prior=prior), lambda m, xb: elbo(m, xb), x,
                               seed=seed, device=_device_of(x, device), steps=steps, lr=1e-3,
                               transform=binarize, progress=progress,
                               desc=f"2-D VAE, prior {prior['kind'] if prior else 'N(0, I)'}")
    return model


@torch.no_grad()
def prior_report(model, train_x: torch.Tensor, x_test: torch.Tensor, classifier, *, seed: int = 0,
                 draws: int = 2000, log_px_images: int = 200, samples: int = 1000) -> dict:
    """Chapter 9's measures of a 2-D VAE's prior: the test ELBO's terms, the share of ``draws``
    prior draws far from the data (:func:`vaelib.evaluate.far_from_data`), the classifier's verdict
    on their decoded images, and log p(x) (K = ``samples``) of the first ``log_px_images`` test
    images. ``codes`` holds the training codes, the prior draws and which of them are far."""
    z_train = encode_means(model, fixed_binarization(train_x))
    z_test = encode_means(model, x_test)
    z_prior = model.prior.sample(draws, generator=torch.Generator().manual_seed(seed + 3))
    images = model.decode(z_prior).sigmoid()
    far, _ = far_from_data(z_prior, z_train, z_test)
    terms = evaluate_elbo(model, x_test)
    log_px = importance_log_likelihood(model, x_test[:log_px_images], samples=samples).mean().item()
    return {**terms, "far": far.float().mean().item(), **classifier_confidence(classifier, images),
            "log_px": log_px, "codes": (z_train.cpu(), z_prior.cpu(), far)}

