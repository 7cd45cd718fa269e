"""β-VAE against β-TCVAE on the chapter-6 sprites: MIG against distortion, MLP and conv nets.

Trains, on every seed, the chapter-6 β-VAE sweep (`vaelib.recipes.SPRITES_RECIPE`, β in
`SPRITES_BETAS`) and β-TCVAEs (`vaelib.beta_tc_elbo`, the total correlation weighted by β; β = 1
is the plain VAE, shared by both), each with the recipe's MLP and with its conv version
(`arch="conv"`: `vaelib.nets.ConvEncoder` / `ConvDecoder` with the same MLP head). Every model
sees the same weights at the start and the same batches for a given seed. Each is scored on the
whole sprite grid (there are no held-out sprites) as chapter 6 scores it: distortion
-E[log p(x|z)] and rate KL in nats per image, MIG of the encoder means against the canonical
factor indices, active units, and the split of its KL into index-code MI, total correlation and
dimension-wise KL (stratified estimator on batches of 1,024).

    python bench/sprites_disentanglement.py          # writes bench/results/sprites_disentanglement.{json,md}
    python bench/sprites_disentanglement.py --quick  # smoke test: 300 steps, seed 0; writes to a temp folder

The full run trains 2 architectures x 3 seeds x 5 models; on a 2-core CPU the conv models take
several times longer per step than the MLPs. The results go to bench/results/, not to the package
data (`vaelib.bench_results`): no chapter quotes them yet; move them there when one does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import vaelib
from vaelib import experiments
from vaelib.recipes import SPRITES_BETAS, SPRITES_RECIPE, SPRITES_SEEDS, Recipe, train_vae

RESULTS = Path(__file__).resolve().parent / "results" / "sprites_disentanglement"
TC_BETAS = (4, 16)  # the β-VAE grid's β > 1, so each β-TCVAE has a β-VAE at the same β
QUICK_STEPS = 300
SPLIT_BATCH = 1024  # examples per batch when splitting a trained model's KL on the whole grid


def recipes(archs: list[str], steps: int | None) -> dict[str, Recipe]:
    out = {}
    for arch in archs:
        recipe = SPRITES_RECIPE if arch == "mlp" else dataclasses.replace(
            SPRITES_RECIPE, name=f"{SPRITES_RECIPE.name}-{arch}", arch=arch)
        out[arch] = recipe.with_steps(steps) if steps else recipe
    return out


def train(method: str, recipe: Recipe, x: torch.Tensor, beta: float, seed: int, device):
    """A model trained as chapter 6 trains it: the β-VAE with `train_vae`, the β-TCVAE with
    `vaelib.experiments.beta_tcvae` (the same start and batches; only the loss differs)."""
    if method == "beta-vae":
        return train_vae(recipe, x, beta=beta, device=device, seed=seed, progress=False)
    return experiments.beta_tcvae(beta, x, seed=seed, recipe=recipe, device=device, progress=False)


def kl_split(model, x: torch.Tensor) -> dict[str, float]:
    """MI, TC and dimension-wise KL of a trained model on all of ``x``, nats per image."""
    split = experiments.kl_split(model, x, batch=SPLIT_BATCH)
    return {k: split[k] for k in ("mi", "tc", "dwkl")}


def score(model, sprites, factors) -> dict:
    terms = vaelib.evaluate_elbo(model, sprites.x)
    codes = vaelib.encode_means(model, sprites.x)
    mig = vaelib.mutual_information_gap(codes, factors, factor_names=sprites.factor_names)
    active, _ = vaelib.active_units(model, sprites.x)
    split = kl_split(model, sprites.x)
    return {
        "distortion_nats": round(-terms["reconstruction"], 3),
        "rate_nats": round(terms["kl"], 3),
        "mig": round(mig["mig"], 4),
        "mig_per_factor": {k: round(v, 4) for k, v in mig["per_factor"].items()},
        "active_units": int(active),
        **{f"{k}_nats": round(v, 3) for k, v in split.items()},
    }


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (arch, method, β): means over seeds, with MIG's range."""
    keys = sorted({(r["arch"], r["method"], r["beta"]) for r in runs},
                  key=lambda k: (k[0], k[2], k[1]))
    rows = []
    for arch, method, beta in keys:
        group = [r for r in runs if (r["arch"], r["method"], r["beta"]) == (arch, method, beta)]
        mig = np.array([r["mig"] for r in group])

        def mean(key, group=group):
            return round(float(np.mean([r[key] for r in group])), 3)

        rows.append({"arch": arch, "method": method, "beta": beta, "seeds": [r["seed"] for r in group],
                     "mig_mean": round(float(mig.mean()), 4), "mig_min": round(float(mig.min()), 4),
                     "mig_max": round(float(mig.max()), 4), "distortion_nats": mean("distortion_nats"),
                     "rate_nats": mean("rate_nats"), "tc_nats": mean("tc_nats"),
                     "active_units": mean("active_units"), "train_seconds": mean("train_seconds")})
    return rows


def table(rows: list[dict]) -> str:
    head = ("| arch | model | β | MIG mean | MIG min-max | distortion (nats) | rate (nats) "
            "| TC (nats) | active | train (s) |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [f"| {r['arch']} | {r['method']} | {r['beta']:g} | {r['mig_mean']:.3f} | "
             f"{r['mig_min']:.3f}-{r['mig_max']:.3f} | {r['distortion_nats']:.2f} | "
             f"{r['rate_nats']:.2f} | {r['tc_nats']:.2f} | {r['active_units']:.1f} | "
             f"{r['train_seconds']:.1f} |" for r in rows]
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {QUICK_STEPS} steps, seed 0, results to a temp folder")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's budget")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--betas", type=float, nargs="+", default=list(SPRITES_BETAS),
                        help="β-VAE's β values (1 is the plain VAE, shared with β-TCVAE)")
    parser.add_argument("--tc-betas", type=float, nargs="+", default=list(TC_BETAS))
    parser.add_argument("--archs", nargs="+", default=["mlp", "conv"], choices=["mlp", "conv"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--output", type=Path, default=None,
                        help="path without suffix for the .json and .md files")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (QUICK_STEPS if args.quick else None)
    seeds = args.seeds or ([0] if args.quick else list(SPRITES_SEEDS))
    output = args.output or (Path(tempfile.gettempdir()) / "sprites_disentanglement_quick"
                             if args.quick else RESULTS)

    device = vaelib.get_device(args.device)
    sprites = vaelib.make_sprites(device=device)
    factors = sprites.canonical_factor_indices().cpu()
    plan = [("beta-vae", b) for b in args.betas] + [("beta-tcvae", b) for b in args.tc_betas if b != 1]
    by_arch = recipes(args.archs, steps)
    runs = []
    start = time.perf_counter()
    for arch, recipe in by_arch.items():
        for seed in seeds:
            for method, beta in plan:
                model, history = train(method, recipe, sprites.x, float(beta), seed, device)
                run = {"arch": arch, "method": method, "beta": float(beta), "seed": seed,
                       "steps": len(history.steps), "train_seconds": round(history.seconds, 1),
                       **score(model, sprites, factors)}
                runs.append(run)
                print(f"{arch:<4} {method:<10} β = {beta:>4g} seed {seed}: MIG {run['mig']:.3f}, "
                      f"distortion {run['distortion_nats']:6.2f}, rate {run['rate_nats']:5.2f}, "
                      f"TC {run['tc_nats']:5.2f} nats, {run['train_seconds']:.0f} s", flush=True)

    rows = summarise(runs)
    results = {
        "device": str(device),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "quick": bool(args.quick),
        "data": f"{sprites.source}: {len(sprites)} binary sprites of {tuple(sprites.x.shape[1:])}",
        "recipes": {arch: r.describe() for arch, r in by_arch.items()},
        "tc_estimator": "mss",
        "seconds": round(time.perf_counter() - start, 1),
        "summary": rows,
        "runs": runs,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    text = table(rows)
    output.with_suffix(".md").write_text(
        f"MIG against distortion on the sprites (seeds {', '.join(map(str, seeds))}; "
        f"steps {sorted({r['steps'] for r in runs})}; means over seeds)\n\n{text}\n")
    print(f"\n{text}\n\nwrote {output.with_suffix('.json')} and {output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
