"""Checks for the exercises of chapter 7 (the conditional VAE)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from ..models import ConditionalVAE
from . import Check, Hint, MultipleChoice
from .wire import from_data, to_data, type_name

__all__ = ["check_latent_size_answer", "check_condition_inputs", "check_label_swap_experiment"]


check_latent_size_answer = MultipleChoice(
    "cvae_latent_size", correct="b",
    hints={
        "a": ("the bigger models reconstruct *better* (their ELBO is higher), so a worse "
              "decoder is not the reason. Ask what the extra latent dimensions are used for."),
        "c": ("the classifier is the same for every latent size and scores real test digits "
              "well; it cannot explain a difference between the models."),
        "d": ("every model is trained with the same β = 1 KL term. Ask what information a 20-D "
              "code has room for that a 2-D code does not."),
    },
    success=("right: a large code can also store which digit it is; a prior draw then carries "
             "its own, random digit identity, which can overrule the label."),
    doc="Exercise 'why does the classifier's accuracy drop as the latent grows?'.")


def _condition_inputs(seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    x = torch.rand(6, 1, 4, 4, generator=gen)
    y = torch.tensor([0, 3, 9, 3, 1, 7])
    return x, y


def _probe_condition_inputs(fn: Callable, seed: int | None = None) -> dict:
    x, y = _condition_inputs(seed)
    return {"seed": seed, "got": to_data(fn(x, y, 10))}


def _judge_condition_inputs(data: dict) -> str:
    x, y = _condition_inputs(data["seed"])
    got = from_data(data["got"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return a tensor, got {type_name(got)}.")
    want = torch.cat([x.flatten(1), F.one_hot(y, 10).float()], dim=1)
    if tuple(got.shape) == (6, 17):
        raise Hint("your rows have 17 columns: you appended the label as one number. Append "
                   "its one-hot vector (10 columns) instead: F.one_hot(y, num_classes).float().")
    if tuple(got.shape) == (6, 1, 4, 4) or got.dim() != 2:
        raise Hint(f"return one row per example, shape (B, pixels + num_classes) = (6, 26); got "
                   f"{tuple(got.shape)}. Flatten x with x.flatten(1) first.")
    if tuple(got.shape) != (6, 26):
        raise Hint(f"expected shape (6, 26) = 16 pixels + 10 one-hot columns, got {tuple(got.shape)}.")
    if torch.allclose(got.float(), torch.cat([F.one_hot(y, 10).float(), x.flatten(1)], dim=1)):
        raise Hint("the values are right but in the other order: the course puts the pixels "
                   "first and the one-hot label last (torch.cat([pixels, one_hot], dim=1)).")
    if not torch.allclose(got.float(), want):
        raise Hint("the shape is right but not the values: the first 16 columns should be the "
                   "pixels as they are, the last 10 a single 1 at the label's index.")
    return "pixels first, then the one-hot label: the input of the CVAE's encoder."


check_condition_inputs = Check(
    "condition_inputs", probe=_probe_condition_inputs, judge=_judge_condition_inputs, seeded=True,
    doc="Exercise 'feed the label': flatten the inputs and append the one-hot label.")


def _probe_label_swap(swap_accuracy: Mapping[int, float]) -> dict:
    return {"swap_accuracy": to_data(swap_accuracy)}


def _judge_label_swap(data: dict) -> str:
    swap_accuracy = from_data(data["swap_accuracy"])
    if not isinstance(swap_accuracy, Mapping) or set(swap_accuracy) != {2, 20}:
        raise Hint("fill a dict with exactly the keys 2 and 20 (the latent sizes).")
    a = {k: float(v) for k, v in swap_accuracy.items()}
    if any(not 0.0 <= v <= 1.0 for v in a.values()):
        raise Hint(f"accuracies are fractions in [0, 1], got {a}; divide counts by the number "
                   "of images.")
    if a[2] < 0.5:
        raise Hint(f"with a 2-D code the label should win most of the time, but you have "
                   f"{a[2]:.2f}. Compare the classifier's prediction with the *new* label, and "
                   "decode the posterior mean of (x, old label) with the new one.")
    if a[20] >= a[2]:
        raise Hint(f"you found the 20-D model as obedient as the 2-D one ({a[20]:.2f} vs "
                   f"{a[2]:.2f}); check that each model was used with its own codes.")
    return (f"the new label wins {100 * a[2]:.0f}% of the time with a 2-D code and "
            f"{100 * a[20]:.0f}% with a 20-D code, which also remembers the old digit.")


check_label_swap_experiment = Check(
    "label_swap", probe=_probe_label_swap, judge=_judge_label_swap,
    doc="Exercise 'does the label win?': label-swap accuracy for latent sizes 2 and 20.")


# ------------------------------------------------------------- exercise: a classifier from the CVAE (★★★)
__all__ += ["check_bayes_classifier", "bayes_world", "MAX_ACCURACY_LOSS", "MAX_PRIOR_ERROR",
            "MAX_CONFIDENCE_GAP"]

MAX_ACCURACY_LOSS = 0.06   # accuracy at most this far below Bayes' rule with the exact likelihood
MAX_PRIOR_ERROR = 0.05     # summed over labels: |mean of your p(y|x) - mean of the exact p(y|x)|
MAX_CONFIDENCE_GAP = 0.05  # mean top probability within this of the exact posterior's
_SUM_TOLERANCE = 1e-3
_WORLD_DIGITS = 600
_WORLD_CLASSES = 10
_WORLD_SHAPE = (1, 28, 28)


def bayes_world(seed: int | None) -> dict:
    """The check's own CVAE and digits, where Bayes' rule can be computed exactly.

    A :class:`~vaelib.models.ConditionalVAE` with a one-dimensional code and linear layers: the
    decoder's logits are a prototype per label plus a style direction times z, and the encoder is
    the Laplace approximation of the true posterior at z = 0, so its ELBO is a good bound. The
    images are drawn from the model itself with labels from a skewed prior.

    Returns:
        ``{"model", "x" (N, 1, 28, 28) binary float32, "prior" (10,) float32, "y" (N,) int64,
        "logits" (10, 784) float64, "style" (784,) float64}``; the same seed gives the same world.
    """
    gen = torch.Generator().manual_seed(11 if seed is None else seed)
    f64, pixels = torch.float64, 784
    base = -2.5 + 2.0 * torch.randn(pixels, generator=gen, dtype=f64)  # mostly dark pixels
    offset = 0.3 * torch.randn(_WORLD_CLASSES, pixels, generator=gen, dtype=f64)  # what each label adds
    style = 0.15 * torch.randn(pixels, generator=gen, dtype=f64)  # the direction z moves the logits
    spread = torch.linspace(-1.2, 1.2, _WORLD_CLASSES, dtype=f64)[torch.randperm(_WORLD_CLASSES, generator=gen)]
    prior = torch.softmax(spread, 0).float()  # the most frequent label about 11 times the rarest
    y = torch.multinomial(prior.double(), _WORLD_DIGITS, replacement=True, generator=gen)
    z = torch.randn(_WORLD_DIGITS, generator=gen, dtype=f64)
    # the logits exactly as the float32 model computes them
    offset32, base32, style32 = offset.float(), base.float(), style.float()
    logits = (offset32 + base32).double()  # (10, 784)
    style = style32.double()
    x = torch.bernoulli(torch.sigmoid(logits[y] + z[:, None] * style), generator=gen)  # (N, 784)
    with torch.random.fork_rng(devices=[]):  # the layers' initial weights are overwritten below
        model = ConditionalVAE(1, num_classes=_WORLD_CLASSES, hidden=(), image_shape=_WORLD_SHAPE)
    p = torch.sigmoid(logits)
    precision = 1 + (style**2 * p * (1 - p)).sum(1)  # (10,): -d^2/dz^2 log p(z | x, y) at z = 0
    mean_precision = precision.mean()
    with torch.no_grad():
        encoder, decoder = model.encoder[0], model.decoder[0]  # single linear layers: hidden=()
        encoder.weight.zero_()
        encoder.bias.zero_()
        encoder.weight[0, :pixels] = (style / mean_precision).float()  # mu = style . (x - p_y) / precision
        encoder.weight[0, pixels:] = (-(p @ style) / mean_precision).float()
        encoder.weight[1, pixels:] = (-precision.log()).float()  # logvar = -log precision
        decoder.weight[:, 0] = style32
        decoder.weight[:, 1:] = offset32.T
        decoder.bias.copy_(base32)
    model.eval()
    return {"model": model, "x": x.float().view(_WORLD_DIGITS, *_WORLD_SHAPE), "prior": prior, "y": y,
            "logits": logits, "style": style}


def _exact_log_likelihood(world: dict) -> torch.Tensor:
    """log p(x | y) of every image and label by quadrature over the one-dimensional z: (N, 10) nats."""
    x = world["x"].double().flatten(1)
    logits, style = world["logits"], world["style"]
    z = torch.linspace(-8, 8, 321, dtype=torch.float64)
    log_weight = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(float(z[1] - z[0]))  # prior x step
    along = (x @ style)[:, None] * z[None, :]  # (N, G)
    columns = []
    for k in range(logits.shape[0]):
        normaliser = F.softplus(logits[k][None, :] + z[:, None] * style[None, :]).sum(1)  # (G,)
        log_joint = (x @ logits[k])[:, None] + along - normaliser[None, :] + log_weight[None, :]
        columns.append(torch.logsumexp(log_joint, dim=1))
    return torch.stack(columns, dim=1)


def _probe_bayes_classifier(fn: Callable[..., torch.Tensor], seed: int | None = None) -> dict:
    world = bayes_world(seed)
    got = fn(world["model"], world["x"].clone(), world["prior"].clone())
    if isinstance(got, torch.Tensor):
        got = got.detach()
    return {"seed": seed, "probs": to_data(got)}


def _judge_bayes_classifier(data: dict) -> str:
    world = bayes_world(data["seed"])
    n, k = _WORLD_DIGITS, _WORLD_CLASSES
    got = from_data(data["probs"])
    if not isinstance(got, torch.Tensor):
        raise Hint(f"return the probabilities p(y | x) as a tensor of shape (N, {k}), not {type_name(got)}.")
    if tuple(got.shape) == (n,):
        raise Hint(f"you returned one number per image, shape ({n},); return the probability of every label "
                   f"for every image, shape ({n}, {k}), so that each row is p(y | x) over the {k} labels.")
    if tuple(got.shape) == (k, n):
        raise Hint(f"your tensor has shape ({k}, {n}): one row per label. Return one row per image, "
                   f"shape ({n}, {k}) (stack the bounds of the labels along dim=1, or transpose).")
    if tuple(got.shape) != (n, k):
        raise Hint(f"for {n} images and {k} labels return shape ({n}, {k}), one row of probabilities per "
                   f"image; got {tuple(got.shape)}.")
    if got.dtype == torch.bool or not got.is_floating_point():
        raise Hint(f"your tensor has dtype {got.dtype}: return probabilities (floats between 0 and 1), not "
                   "labels or counts.")
    got = got.double()
    log_lik = _exact_log_likelihood(world)  # (N, 10) nats
    typical = float(-log_lik.max(dim=1).values.median())
    if not torch.isfinite(got).all():
        rows = int((~torch.isfinite(got)).any(dim=1).sum())
        raise Hint(f"{rows} of your {n} rows hold NaN or infinite values. The bounds here are about -{typical:.0f} "
                   f"nats per image, and exp(-{typical:.0f}) is 0 in floating point (exp of +{typical:.0f} "
                   "overflows), so dividing one exponentiated bound by the sum of the others gives 0/0. Stay in "
                   "log space: add log p(y), subtract each row's largest value, then exponentiate and "
                   "normalise; torch.softmax(..., dim=1) does exactly that.")
    rows, columns = got.sum(dim=1), got.sum(dim=0)
    if (got < -1e-6).any():
        if torch.allclose(got.exp().sum(dim=1), torch.ones(n, dtype=got.dtype), atol=_SUM_TOLERANCE):
            raise Hint("your values are log-probabilities (each row's exp sums to 1): return the "
                       "probabilities themselves, exp of them (torch.softmax instead of torch.log_softmax).")
        raise Hint(f"some of your values are negative (down to {float(got.min()):.3g}): probabilities lie between "
                   "0 and 1. The bounds are log-values in nats; turn them into probabilities with Bayes' rule.")
    if float(got.max()) > 1 + 1e-6:
        raise Hint(f"some of your values are above 1 (up to {float(got.max()):.3g}): probabilities lie between 0 "
                   "and 1. Values like these are bounds or losses in nats; turn them into p(y | x) with Bayes' "
                   "rule.")
    if not torch.allclose(rows, torch.ones(n, dtype=got.dtype), atol=_SUM_TOLERANCE):
        if torch.allclose(columns, torch.ones(k, dtype=got.dtype), atol=_SUM_TOLERANCE):
            raise Hint("each of your columns sums to 1, not each row: you normalised over the images (dim=0). "
                       "Normalise each image's row over the labels: torch.softmax(..., dim=1).")
        if float(rows.max()) < 1e-30:
            raise Hint(f"your rows sum to 0: exp of bounds of about -{typical:.0f} nats is 0 in floating point. "
                       "Subtract each row's largest log-value before exponentiating, then normalise the row "
                       "(torch.softmax(..., dim=1) does both).")
        raise Hint(f"your rows sum to between {float(rows.min()):.3g} and {float(rows.max()):.3g}, not 1: p(y | x) "
                   "is p(x | y) p(y) divided by its sum over the labels. Normalise each row (dim=1).")
    y = world["y"]
    log_prior = world["prior"].double().log()
    exact = torch.softmax(log_lik + log_prior, dim=1)  # Bayes' rule with the true likelihood
    accuracy = float((got.argmax(dim=1) == y).double().mean())
    best = float((exact.argmax(dim=1) == y).double().mean())
    if accuracy < best - MAX_ACCURACY_LOSS and float((got.argmin(dim=1) == y).double().mean()) > 0.5:
        raise Hint(f"your most probable label is right for {accuracy:.0%} of the images, but your *least* probable "
                   f"one for {float((got.argmin(dim=1) == y).double().mean()):.0%}: the sign is flipped. The ELBO is "
                   "large for a good label; softmax the bounds themselves, not the loss -ELBO.")
    if float(got.std(dim=0).max()) < 1e-3:
        raise Hint("every image gets (almost) the same probabilities: your answer does not depend on x. Compute "
                   "the bound of each image under each label, model.encode(x, y) and model.decode(z, y) with y "
                   "set to that label for every image.")
    confidence, exact_confidence = float(got.max(dim=1).values.mean()), float(exact.max(dim=1).values.mean())
    hard = float((got.max(dim=1).values > 1 - 1e-6).double().mean())
    if hard > 0.98 and float((exact.max(dim=1).values > 1 - 1e-6).double().mean()) < 0.5:
        raise Hint("your probabilities are 0 or 1: a decision, not a distribution. Return p(y | x) itself, the "
                   "normalised exp of log p(x | y) + log p(y); the check also judges how sure it is.")
    if confidence < exact_confidence - MAX_CONFIDENCE_GAP:
        raise Hint(f"your probabilities are too flat: the most probable label gets {confidence:.2f} on average, "
                   f"Bayes' rule {exact_confidence:.2f}. Bayes' rule needs the whole bound, reconstruction minus KL "
                   "(the KL alone hardly depends on the label), in nats per image: summed over the 784 pixels, "
                   "not averaged over them, and not scaled.")
    if confidence > exact_confidence + MAX_CONFIDENCE_GAP:
        raise Hint(f"your probabilities are too sure: the most probable label gets {confidence:.2f} on average, "
                   f"Bayes' rule {exact_confidence:.2f}. Use the bound of one image in nats as it is (not "
                   "summed over the batch or multiplied).")
    mean, want = got.mean(dim=0), exact.mean(dim=0)
    error = float((mean - want).abs().sum())
    if error > MAX_PRIOR_ERROR:
        ignored = float((mean - torch.softmax(log_lik, dim=1).mean(dim=0)).abs().sum())
        doubled = float((mean - torch.softmax(log_lik + 2 * log_prior, dim=1).mean(dim=0)).abs().sum())
        frequent = int(log_prior.argmax())
        if ignored < error:
            raise Hint(f"your probabilities ignore how common each label is: label {frequent} has prior "
                       f"{float(world['prior'][frequent]):.2f}, but your average p(y = {frequent} | x) is "
                       f"{float(mean[frequent]):.2f} (Bayes' rule: {float(want[frequent]):.2f}). The check's labels "
                       "are not balanced; add log p(y) (the log of `prior`) to each label's bound before normalising.")
        if doubled < error:
            raise Hint(f"your probabilities favour the common labels too much (average p(y = {frequent} | x) = "
                       f"{float(mean[frequent]):.2f}, Bayes' rule {float(want[frequent]):.2f}): add log p(y) once.")
        raise Hint(f"averaged over the images, your probability of each label should come close to the prior, "
                   f"as Bayes' rule's does; yours are {error:.2f} away in total (allowed {MAX_PRIOR_ERROR}). "
                   "Multiply p(x | y) by p(y): in log space, add log(prior) to each label's bound.")
    if accuracy < best - MAX_ACCURACY_LOSS:
        raise Hint(f"your probabilities are valid but pick the right label for {accuracy:.1%} of the check's images; "
                   f"Bayes' rule with the exact likelihood reaches {best:.1%}. Use the whole bound for each label, "
                   "reconstruction minus KL, with the image encoded *under that label*, and if it is noisy average "
                   "it over several draws of z or use the K-sample bound (vaelib.importance_log_likelihood).")
    return (f"valid probabilities for {n} digits drawn from the check's own CVAE: your most probable label is "
            f"right for {accuracy:.1%} of them (Bayes' rule with the exact likelihood: {best:.1%}), the average "
            f"probability of each label is within {error:.3f} of the exact posterior's (the labels were not "
            f"balanced), and the top label's probability averages {confidence:.2f} (exact: {exact_confidence:.2f}).")


check_bayes_classifier = Check(
    "bayes_classifier", probe=_probe_bayes_classifier, judge=_judge_bayes_classifier, seeded=True,
    doc="""Exercise 'a classifier from the CVAE' (★★★): ``fn(model, x, prior)`` -> (N, 10) probabilities p(y | x).

    Called on the check's own conditional VAE (one latent dimension, linear layers, images drawn
    from it with unbalanced labels), where log p(x | y) is computed exactly by quadrature. The rows
    must be probabilities that sum to 1; the accuracy must be at most ``MAX_ACCURACY_LOSS`` below
    Bayes' rule with the exact likelihood, the average probability of each label close to the
    exact posterior's (``MAX_PRIOR_ERROR``: the prior was used) and the mean confidence close to
    its (``MAX_CONFIDENCE_GAP``).""")
