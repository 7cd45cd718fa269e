"""Checks for the exercises of chapter 1 (autoencoders)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from . import Check, Hint, MultipleChoice
from .wire import from_data, to_data, type_name

__all__ = ["check_holes_answer", "check_reconstruction_loss", "check_latent_size_experiment",
           "check_code_sampler", "code_cloud", "MAX_IN_HOLES", "MIN_NOVELTY", "MIN_COVERAGE"]


check_holes_answer = MultipleChoice(
    "holes", correct="b",
    hints={
        "a": ("the decoder is not broken: it decodes the codes of real digits well. Ask which "
              "codes it was ever trained on."),
        "c": ("more training makes reconstructions sharper but gives the decoder no reason to "
              "care about codes no image maps to."),
        "d": ("a wider box would only add more empty space: the problem is the space between "
              "and around the clusters."),
    },
    success=("right: nothing in the loss asks the codes to fill any region, so most of the "
             "space is never visited in training and the decoder's output there is arbitrary."),
    doc="Exercise 'holes': which statement explains why random codes decode to garbage?")


def _reference_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def _loss_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1 if seed is None else seed)
    logits = torch.randn(8, 1, 28, 28, generator=gen) * 3
    x = torch.rand(8, 1, 28, 28, generator=gen)
    return logits, x


def _probe_reconstruction_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                               seed: int | None = None) -> dict:
    return {"seed": seed, "got": to_data(fn(*_loss_inputs(seed)))}


def _judge_reconstruction_loss(data: dict) -> str:
    logits, x = _loss_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return a tensor, not {type_name(got)}.")
    if got.dim() != 0:
        raise Hint(f"return one number (a 0-d tensor) for the batch, not shape {tuple(got.shape)}: "
                   "sum over the pixels, then average over the batch.")
    want = _reference_loss(logits, x)
    value = float(got)
    if torch.isclose(got.to(want.dtype), want, rtol=1e-4):
        return f"{value:.2f} nats per image, as expected."
    bce_pixels = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    if abs(value + float(want)) < 1e-3 * abs(float(want)):
        raise Hint("the sign is flipped: a loss is the *negative* log-likelihood, so it is positive.")
    if abs(value - float(bce_pixels.mean())) < 1e-4:
        raise Hint("you averaged over the pixels too (reduction='mean'): sum over the 784 pixels "
                   "and average only over the batch, so the loss is in nats per image.")
    if abs(value - float(bce_pixels.sum())) < 1e-2:
        raise Hint("you summed over the batch too: divide by the batch size (average over images).")
    probs = torch.sigmoid(logits)
    if abs(value - float(F.binary_cross_entropy_with_logits(probs, x, reduction="none")
                         .flatten(1).sum(1).mean())) < 1e-3:
        raise Hint("you applied the sigmoid twice: the decoder returns logits, and "
                   "binary_cross_entropy_with_logits applies the sigmoid itself.")
    raise Hint(f"got {value:.4f}, expected {float(want):.4f}. Use "
               "F.binary_cross_entropy_with_logits(logits, x, reduction='none'), sum over "
               "the pixel dimensions, then take the mean over the batch.")


check_reconstruction_loss = Check(
    "reconstruction_loss", probe=_probe_reconstruction_loss, judge=_judge_reconstruction_loss, seeded=True,
    doc="Exercise 'reconstruction loss': BCE from logits, summed over pixels, averaged over the batch.")


def _probe_latent_size(errors: Mapping[int, float]) -> dict:
    return {"errors": to_data(errors)}


def _judge_latent_size(data: dict) -> str:
    errors = from_data(data["errors"])
    if not isinstance(errors, Mapping) or set(errors) != {2, 8}:
        raise Hint("fill a dict with exactly the keys 2 and 8, e.g. {2: 150.3, 8: 95.1}.")
    e2, e8 = float(errors[2]), float(errors[8])
    if not (0 < e8 < 400 and 0 < e2 < 400):
        raise Hint("the numbers should be test losses in nats per image (tens to a few hundred); "
                   "did you average over pixels, or report a sum over the test set?")
    if e8 >= e2:
        raise Hint(f"a larger code should reconstruct better, but you found {e8:.1f} (8) >= "
                   f"{e2:.1f} (2). Use the same number of steps for both and evaluate on the test set.")
    return (f"8 latents give {e8:.1f} against {e2:.1f} nats per image for 2: "
            f"{100 * (e2 - e8) / e2:.0f}% lower.")


check_latent_size_experiment = Check(
    "latent_size", probe=_probe_latent_size, judge=_judge_latent_size,
    doc="Exercise 'latent size': test reconstruction loss for latent sizes 2 and 8.")


# ------------------------------------------------------------- exercise: codes that decode (★★★)

MAX_IN_HOLES = 0.1   # at most this share of the new codes may fall into holes
MIN_NOVELTY = 0.2    # median distance to the nearest training code, relative to a held-out code's
MIN_COVERAGE = 0.5   # every group gets at least this fraction of its share of the training codes
_SAMPLER_DIMS = (2, 8)
_SAMPLER_DRAWS = 1000
_GROUPS = 10


def code_cloud(seed: int | None, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes shaped like an autoencoder's: ten arms from a common centre, at a random scale.

    Returns ``(z_train (2000, dim) float32, group (2000,) int64, z_held_out (500, dim) float32)``;
    the same seed gives the same codes.
    """
    gen = torch.Generator().manual_seed((1 if seed is None else seed) * 7919 + dim)
    scale = float(torch.empty((), dtype=torch.float64).uniform_(0.5, 20.0, generator=gen))
    directions = torch.randn(_GROUPS, dim, generator=gen, dtype=torch.float64)
    directions = directions / directions.norm(dim=1, keepdim=True)
    lengths = torch.empty(_GROUPS, dtype=torch.float64).uniform_(0.5, 1.5, generator=gen)
    n_train, n_held = 2000, 500
    group = torch.randint(_GROUPS, (n_train + n_held,), generator=gen)
    along = 0.15 + torch.rand(n_train + n_held, generator=gen, dtype=torch.float64) ** 0.7
    z = along[:, None] * lengths[group, None] * directions[group]  # (N, dim): points on the arms
    z = scale * (z + 0.06 * torch.randn(n_train + n_held, dim, generator=gen, dtype=torch.float64))
    return z[:n_train].float(), group[:n_train], z[n_train:].float()


def _probe_code_sampler(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    out = {"seed": seed, "codes": []}
    for dim in _SAMPLER_DIMS:
        z_train, _, _ = code_cloud(seed, dim)
        gen = torch.Generator().manual_seed(0 if seed is None else seed)
        got = fn(z_train.clone(), _SAMPLER_DRAWS, gen)
        if isinstance(got, torch.Tensor):
            got = got.detach()
        out["codes"].append(to_data(got))
    return out


def _judge_code_sampler(data: dict) -> str:
    shown = []
    for dim, raw in zip(_SAMPLER_DIMS, data["codes"], strict=True):
        z_train, group, z_held = (t.double() if t.is_floating_point() else t for t in code_cloud(data["seed"], dim))
        got = from_data(raw)
        if not isinstance(got, torch.Tensor):
            raise Hint(f"return the new codes as a tensor of shape (n, d), not {type_name(got)}.")
        if tuple(got.shape) != (_SAMPLER_DRAWS, dim):
            raise Hint(f"for {len(z_train)} training codes of dimension {dim} and n = {_SAMPLER_DRAWS} "
                       f"return shape ({_SAMPLER_DRAWS}, {dim}), one new code per row; got {tuple(got.shape)}.")
        got = got.double()
        if not torch.isfinite(got).all():
            raise Hint(f"{int((~torch.isfinite(got)).any(1).sum())} of your {dim}-D codes hold NaN or "
                       "infinite values; check any division (a spread of 0?) and any logarithm.")
        nearest_held = torch.cdist(z_held, z_train).min(dim=1).values
        typical = nearest_held.quantile(0.95)  # the chapter's measure of a hole
        nearest, which = torch.cdist(got, z_train).min(dim=1)
        in_holes = float((nearest > typical).double().mean())
        novelty = float(nearest.median() / nearest_held.median())
        if in_holes > MAX_IN_HOLES:
            _hole_hint(got, z_train, in_holes, novelty, dim)
        if novelty < MIN_NOVELTY:
            exact = float((nearest < 1e-6 * typical).double().mean())
            what = (f"{exact:.0%} of them are exact copies of training codes" if exact > 0.5 else
                    f"half of them lie within {novelty:.2f} of the distance at which a held-out code "
                    "finds its nearest training code")
            raise Hint(f"your {dim}-D codes stay in the data, but they are not new: {what}. A copy decodes "
                       "to a training digit again. Move each one away from its training code by about "
                       "the distance between neighbouring codes (noise scaled to that distance, or a "
                       "point between two neighbours).")
        share = torch.bincount(group[which], minlength=_GROUPS).double() / len(got)
        want = torch.bincount(group, minlength=_GROUPS).double() / len(group)
        worst = int(torch.argmin(share / want))
        if share[worst] < MIN_COVERAGE * want[worst]:
            covered = int((share > 0).sum())
            raise Hint(f"your {dim}-D codes reach {covered} of the {_GROUPS} groups of training codes, "
                       f"unevenly: one group holds {want[worst]:.0%} of the training codes but "
                       f"{share[worst]:.0%} of yours. A generator must produce every kind of digit: start "
                       "each new code from a training code drawn at random from all of them.")
        shown.append(f"{dim}-D: {in_holes:.0%} in holes, {novelty:.2f} of a held-out code's distance "
                     "from the nearest training code")
    return ("new codes where the decoder was trained, spread over every group (" + "; ".join(shown)
            + "). An autoencoder can generate this way, but only by keeping its training codes: the "
            "VAE builds the known distribution into training instead.")


def _hole_hint(got: torch.Tensor, z_train: torch.Tensor, in_holes: float, novelty: float, dim: int) -> None:
    where = f"{in_holes:.0%} of your {dim}-D codes fall into holes (farther from every training code than 95% of held-out codes are)"
    low, high = z_train.min(0).values, z_train.max(0).values
    if torch.allclose(got.std(0), (high - low) / math.sqrt(12), rtol=0.15):
        raise Hint(f"{where}: they fill the box around the codes evenly, as in the chapter, and most of the "
                   "box is empty. Start from the training codes themselves and move each one a little.")
    if got.mean(0).abs().max() < 0.2 and torch.allclose(got.std(0), torch.ones(dim, dtype=got.dtype), rtol=0.2):
        raise Hint(f"{where}: they look like draws from N(0, I), but nothing in an autoencoder's loss puts its "
                   "codes there: their centre and scale are arbitrary. Use the training codes you are given.")
    cov_got, cov_train = torch.cov(got.T).reshape(dim, dim), torch.cov(z_train.T).reshape(dim, dim)
    spread = (z_train.std(0) ** 2).sum().sqrt()
    if (got.mean(0) - z_train.mean(0)).norm() < 0.2 * spread and \
            (cov_got - cov_train).norm() < 0.3 * cov_train.norm():
        raise Hint(f"{where}: your codes have the mean and covariance of the training codes, like one "
                   "Gaussian fitted to them, but the codes form separate arms and a Gaussian puts its mass "
                   "between them too. Stay close to individual training codes.")
    raise Hint(f"{where}; their median distance to the nearest training code is {novelty:.1f} times a "
               f"held-out code's. Your steps away from the training codes are too long: in {dim} dimensions "
               f"noise of standard deviation h per coordinate moves a code by about h * sqrt({dim}), so "
               "scale it to the distance between neighbouring codes (torch.cdist helps).")


check_code_sampler = Check(
    "code_sampler", probe=_probe_code_sampler, judge=_judge_code_sampler, seeded=True,
    doc="""Exercise 'codes that decode' (★★★): ``fn(z_train, n, generator)`` -> (n, d) new codes.

    Called on fresh clouds of 2-D and 8-D codes shaped like an autoencoder's. The codes must land
    where the training codes are (at most ``MAX_IN_HOLES`` of them in holes, measured as in the
    chapter), be new (not copies: ``MIN_NOVELTY``), and cover every group of codes
    (``MIN_COVERAGE``).""")
