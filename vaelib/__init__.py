"""vaelib: the small PyTorch library behind the course on variational autoencoders.

The public surface, by responsibility:

- :mod:`vaelib.runtime`: device choice and seeding
- :mod:`vaelib.data`: MNIST as tensors (full or the bundled subset), binarization, sprites
- :mod:`vaelib.nets`, :mod:`vaelib.models`: encoders, decoders, ``Autoencoder``, ``VAE``
- :mod:`vaelib.priors`: priors p(z) for the VAE: N(0, I), a mixture of Gaussians, the VampPrior
- :mod:`vaelib.losses`: closed-form KLs, log-likelihoods, the ELBO (nats per example)
- :mod:`vaelib.decomposition`: the KL term split into index-code MI, total correlation and
  dimension-wise KL; the β-TCVAE loss
- :mod:`vaelib.train`: ``fit``, one model-agnostic training loop, and ``train_new_model``, the one
  way a new model is seeded, built and trained
- :mod:`vaelib.evaluate`: measurements of a trained model: test ELBO, importance-sampled
  log-likelihood, encoder means, active units, linear probe, anomaly scores, ROC and AUROC,
  accuracy on real and generated digits, the mutual information gap (MIG), scores for any
  generator's samples (modes covered, label spread, Fréchet distance)
- :mod:`vaelib.schedules`: KL weight schedules (warm-up, cyclical) and the learning-rate schedule
- :mod:`vaelib.recipes`: the VAE's training recipes (size, budget, optimizer) as data, and
  ``train_vae``, which trains a recipe's VAE
- :mod:`vaelib.experiments`: every experiment a chapter runs and ``bench/claims.py`` re-runs on
  other seeds, written once
- :mod:`vaelib.classifier`: the digit classifier that grades generated digits
- :mod:`vaelib.checkpoint`: save and load models with their configuration
- :mod:`vaelib.bench_results`: the benchmarks' last results, shipped as package data
- :mod:`vaelib.plots`, :mod:`vaelib.widgets`: figures, and slider explorers over latent spaces
- :mod:`vaelib.web_explorer`, :mod:`vaelib.drawing_pad`: the explorers and the drawing pad that run in
  the rendered book's page, without a kernel
- :mod:`vaelib.playground`: the VAE that the playground page trains in the reader's browser, in
  PyTorch (the reference its JavaScript is tested against)
- :mod:`vaelib.checks`: the exercises' checks
- :mod:`vaelib.predict`: "predict, then see": a question the reader answers before a result, and
  its answer after it, in the book's page and in JupyterLab without a kernel round trip
- :mod:`vaelib.prose`: numbers that a chapter's text quotes from its run (glue)
"""

from . import (
    bench_results,
    checkpoint,
    classifier,
    data,
    decomposition,
    evaluate,
    experiments,
    losses,
    models,
    nets,
    predict,
    priors,
    prose,
    recipes,
    runtime,
    schedules,
    train,
)
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import binarize, fixed_binarization, load_mnist, make_sprites
from .decomposition import beta_tc_elbo
from .evaluate import (
    active_units,
    bits_per_dim,
    encode_means,
    evaluate_elbo,
    importance_log_likelihood,
    mutual_information_gap,
)
from .losses import (
    bernoulli_log_likelihood,
    conditional_elbo,
    elbo,
    gaussian_log_likelihood,
    kl_standard_normal,
)
from .models import VAE, Autoencoder, ConditionalVAE
from .runtime import get_device, seed_everything
from .train import History, NonFiniteLossError, fit, train_new_model

__version__ = "0.1.0"


def __getattr__(name: str):
    # vaelib.plots loads matplotlib on first use (PEP 562): the grader's sandbox, the checks and
    # the benchmarks never draw, and matplotlib's import is most of `import vaelib`'s time.
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'vaelib' has no attribute {name!r}")


# The names the chapters call as vaelib.NAME, each reached this one way (the rest by module:
# vaelib.evaluate.auroc, vaelib.priors.MixturePrior, ...), and what a learner meets in an error.
__all__ = [
    "bench_results", "checkpoint", "classifier", "data", "decomposition", "evaluate", "experiments", "losses",
    "models", "nets", "plots", "predict", "priors", "prose", "recipes", "runtime", "schedules", "train",
    "get_device", "seed_everything",
    "load_mnist", "make_sprites", "binarize", "fixed_binarization",
    "Autoencoder", "VAE", "ConditionalVAE",
    "elbo", "conditional_elbo", "beta_tc_elbo", "kl_standard_normal",
    "bernoulli_log_likelihood", "gaussian_log_likelihood",
    "fit", "train_new_model", "History", "NonFiniteLossError",
    "evaluate_elbo", "importance_log_likelihood", "bits_per_dim", "active_units", "encode_means",
    "mutual_information_gap",
    "save_checkpoint", "load_checkpoint", "CheckpointError",
]
