"""How good is the chapter-4 VAE, and how long does it take? Test log-likelihood against time.

Trains the 784-400-20 MLP VAE of chapter 4 on the bundled MNIST subset (4,000 training images,
dynamically binarized) with two recipes, the plain one (Adam at 1e-3, batch 100, constant rate)
and the course's (see `vaelib.recipes.COURSE_RECIPE`), then scores each on one fixed
binarization of the 1,000 test images with the importance-sampled log-likelihood (K = 1000) and
the ELBO. An independent-pixel model (one Bernoulli per pixel, fitted to the training means) is
the floor any latent-variable model must beat.

    python bench/vae_quality.py              # writes vaelib/bench_results/vae_quality.json
    python bench/vae_quality.py --plain-steps 12000   # the plain recipe at its usual budget
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import vaelib
from vaelib.bench_results import result_path
from vaelib.recipes import COURSE_RECIPE, PLAIN_RECIPE, train_vae

RESULTS = result_path("vae_quality")  # package data, so chapter 4 reads it anywhere


def score(model, test_x, samples: int) -> dict[str, float]:
    start = time.perf_counter()
    ll = vaelib.importance_log_likelihood(model, test_x, samples=samples, seed=0)
    elbo = vaelib.evaluate_elbo(model, test_x)
    nll = float(-ll.mean())
    return {
        "test_nll_nats": round(nll, 2),
        "test_nll_standard_error": round(float(ll.std() / len(ll) ** 0.5), 2),
        "test_bits_per_dim": round(float(vaelib.bits_per_dim(nll, test_x[0].numel())), 4),
        "test_negative_elbo_nats": round(-elbo["elbo"], 2),
        "test_kl_nats": round(elbo["kl"], 2),
        "importance_samples": samples,
        "evaluation_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain-steps", type=int, default=PLAIN_RECIPE.steps)
    parser.add_argument("--course-steps", type=int, default=COURSE_RECIPE.steps)
    parser.add_argument("--samples", type=int, default=1000, help="importance samples K")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    device = vaelib.get_device(args.device)
    train = vaelib.load_mnist("train", source="subset", device=device)
    test = vaelib.load_mnist("test", source="subset", device=device)
    test_x = vaelib.fixed_binarization(test.x)

    results = {
        "device": str(device),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "data": "bundled MNIST subset: 4,000 train (dynamic binarization) / 1,000 test (fixed binarization)",
        "independent_pixels_test_nll_nats": round(-vaelib.evaluate.independent_pixels_log_likelihood(
            vaelib.fixed_binarization(train.x), test_x), 2),
        "recipes": {},
    }
    for recipe in (PLAIN_RECIPE.with_steps(args.plain_steps), COURSE_RECIPE.with_steps(args.course_steps)):
        model, history = train_vae(recipe, train.x, device=device, progress=True)
        entry = {**recipe.describe(), "train_seconds": round(history.seconds, 1),
                 **score(model, test_x, args.samples)}
        results["recipes"][recipe.name] = entry
        print(json.dumps({recipe.name: entry}, indent=2), flush=True)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
