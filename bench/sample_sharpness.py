"""Are a VAE's samples sharper than a GAN's? Chapter 9's MNIST contest at its budget and longer.

Chapter 9 trains a VAE, a GAN and a diffusion model on the bundled MNIST subset for a few seconds
each (its ``STEPS_MNIST``) and scores 1,000 samples of each with its digit classifier. This script
re-runs that contest for the VAE and the GAN (``--diffusion``: the diffusion model too) on
several seeds, at the chapter's budget and at a multiple of it (default 1x and 2x; ``--scales 1 4``
trains four times as long, at about twice the cost of the default), and adds two direct measures
of sharpness (:func:`vaelib.evaluate.sharpness`): the mean magnitude of the image gradient and the
share of pixels within 0.1 of black or white, each also for real digits.

Nothing here defines or trains a model of its own: the script executes the chapter's cells (the
GAN, the denoiser, the samplers, the judge and the cell that trains the three models), found by
their cell ids in ``chapters/09_beyond.ipynb``, and changes only the seed and the step counts. The
judge is the chapter's classifier (seed 0) on every run, so only the generators vary.

    python bench/sample_sharpness.py                   # writes vaelib/bench_results/sample_sharpness.json
    python bench/sample_sharpness.py --scales 1 --seeds 0 --output /tmp/s.json   # the chapter's run
    python bench/sample_sharpness.py --seeds 1 --scales 2 --output /tmp/s1_2.json  # one process per
    python bench/sample_sharpness.py --merge /tmp/s*.json   # seed and budget, then one report

Run it with one compute thread (``OMP_NUM_THREADS=1``), as the chapters run: seed 0 at scale 1
then reproduces the chapter's table on a CPU. The run's seconds are in the report.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import time
from pathlib import Path

import torch

os.environ.setdefault("VAELIB_OFFLINE", "1")  # the bundled subset, as the book's build uses

import vaelib  # noqa: E402
from vaelib.bench_results import result_path  # noqa: E402
from vaelib.evaluate import sharpness  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "09_beyond.ipynb"
RESULTS = result_path("sample_sharpness")

# The chapter's cells this script runs, by cell id, and the names it takes from each (None: the
# whole cell). tests/test_sample_sharpness_bench.py checks that the cells still define them.
CELLS = {
    "f0009d2d": None,  # imports, device, the MNIST subset
    "cdcc63e7": None,  # STEPS_MNIST and train_for
    "b7c9a310": None,  # the GAN and its training
    "17cbde78": None,  # the denoiser, its loss and its samplers
    "83f19824": ("classifier", "test_features", "digit_scores"),  # the judge
    "c49cb046": ("samplers", "N_SAMPLES"),  # each model's sampler, images in [0, 1]
}
TRAIN_CELL = "bd1e7d2c"  # trains the three MNIST models into `vae`, `gan`, `dif`; `seconds_mnist`
MODELS = ("VAE", "GAN", "diffusion, 100 steps")  # the chapter's names of the samplers
MEASURES = ("recognised", "confidence", "entropy", "frechet", "edge", "decisive")


def chapter_cells() -> dict[str, str]:
    """The source of every code cell of chapter 9 by cell id, without IPython's % lines."""
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    return {c["id"]: "".join(line for line in c["source"] if not line.lstrip().startswith("%"))
            for c in notebook["cells"] if c["cell_type"] == "code"}


def defined_names(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (assignments, functions, classes)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def run_cell(namespace: dict, cells: dict[str, str], cell_id: str, names=None) -> None:
    """Execute a chapter cell in ``namespace``; with ``names``, only the statements that bind them."""
    tree = ast.parse(cells[cell_id])
    if names is not None:
        tree.body = [node for node in tree.body if defined_names(node) & set(names)]
        missing = set(names) - set().union(*map(defined_names, tree.body))
        if missing:
            raise RuntimeError(f"cell {cell_id} of {CHAPTER.name} no longer defines {sorted(missing)}")
    exec(compile(tree, f"{CHAPTER.name}#{cell_id}", "exec"), namespace)  # noqa: S102


def scores(namespace: dict, images: torch.Tensor) -> dict[str, float]:
    """The chapter's digit scores of ``images`` and their sharpness."""
    return {**namespace["digit_scores"](images), **sharpness(images)}


def summary(values: list[float]) -> dict:
    return {"per_seed": [round(v, 4) for v in values], "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}


def run(seeds: list[int], scales: list[float], models: tuple[str, ...] = MODELS) -> dict:
    cells = chapter_cells()
    ns: dict = {}
    run_cell(ns, cells, "f0009d2d")
    ns["glue"] = lambda name, value: None  # the chapter's text is not written here
    for cell_id, names in list(CELLS.items())[1:]:
        run_cell(ns, cells, cell_id, names)
    chapter_steps = dict(ns["STEPS_MNIST"])
    train_x, test_x = ns["train"].x, ns["test"].x
    n = ns["N_SAMPLES"]
    real = {"training digits": scores(ns, train_x[:n].cpu()), "test digits": scores(ns, test_x[:n].cpu())}

    runs: dict = {}
    for scale in scales:
        steps = {name: round(scale * s) for name, s in chapter_steps.items()}
        per_model: dict = {name: {m: [] for m in (*MEASURES, "train_seconds")} for name in models}
        for seed in seeds:
            def train_for(build, loss_fn, x, steps, _seed=seed, **fit_args):  # the chapter's, with the seed
                if not any(name.startswith(fit_args.get("desc", "").split(",")[0]) for name in models):
                    return None, 0.0  # a model left out of this run
                start = time.perf_counter()
                model, _ = vaelib.train_new_model(build, loss_fn, x, seed=_seed, steps=steps, **fit_args)
                return model, time.perf_counter() - start

            ns.update(STEPS_MNIST=steps, train_for=train_for)
            run_cell(ns, cells, TRAIN_CELL)
            seconds = {**ns["seconds_mnist"], "diffusion, 100 steps": ns["seconds_mnist"]["diffusion"]}
            for name in models:
                images = ns["samplers"][name](n, torch.Generator().manual_seed(1)).cpu()
                for measure, value in scores(ns, images).items():
                    per_model[name][measure].append(value)
                per_model[name]["train_seconds"].append(seconds[name])
                print(f"scale {scale:g}, seed {seed}, {name}: "
                      + ", ".join(f"{m} {per_model[name][m][-1]:.3f}" for m in per_model[name]), flush=True)
        runs[f"{scale:g}x"] = {"steps": steps, "models": {name: {m: summary(v) for m, v in measures.items()}
                                                        for name, measures in per_model.items()}}
    return {"samples": n, "real": {k: {m: round(v, 4) for m, v in sc.items()} for k, sc in real.items()}, "runs": runs}


def merge(parts: list[dict]) -> dict:
    """One report from runs on different seeds or budgets (e.g. one process per seed and budget):
    each budget's seeds are concatenated in seed order; every budget must end with the same seeds."""
    parts = sorted(parts, key=lambda p: p["seeds"])
    runs: dict = {}
    for budget in sorted({b for p in parts for b in p["runs"]}, key=lambda b: float(b[:-1])):
        having = [p for p in parts if budget in p["runs"]]
        first = having[0]["runs"][budget]
        models = {name: {m: summary([v for p in having for v in p["runs"][budget]["models"][name][m]["per_seed"]])
                         for m in measures} for name, measures in first["models"].items()}
        runs[budget] = {**first, "models": models, "seeds": [s for p in having for s in p["seeds"]]}
    seeds = {tuple(r.pop("seeds")) for r in runs.values()}
    if len(seeds) != 1:
        raise ValueError(f"the budgets were run on different seeds: {sorted(seeds)}")
    return {**parts[0], "seeds": list(seeds.pop()), "runs": runs,
            "seconds": round(max(p["seconds"] for p in parts), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 2],
                        help="budgets as multiples of the chapter's step counts")
    parser.add_argument("--diffusion", action="store_true",
                        help="also the diffusion model (its 100-step sampler); it doubles the time")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="combine the reports of runs on different seeds into --output, and exit")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.merge:
        report = merge([json.loads(p.read_text()) for p in args.merge])
        args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"seeds {report['seeds']} written to {args.output}")
        return

    start = time.perf_counter()
    results = run(args.seeds, args.scales, MODELS if args.diffusion else MODELS[:2])
    device = vaelib.get_device()
    report = {
        "device": str(device),
        "machine": f"{os.uname().machine}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "data": "bundled MNIST subset: 4,000 training digits; 1,000 samples per model, scored against "
                "the 1,000 test digits",
        "chapter": CHAPTER.stem,
        "seeds": args.seeds,
        "measures": {
            "recognised": "share of samples the chapter's classifier labels with confidence above 0.9",
            "confidence": "the classifier's mean top probability",
            "entropy": "entropy of the predicted labels' histogram, nats (log 10 = 2.30 for all digits equally)",
            "frechet": "Fréchet distance to the test digits in the classifier's 256 features",
            "edge": "mean magnitude of the image gradient (neighbouring-pixel differences), grey levels per pixel",
            "decisive": "share of pixels within 0.1 of 0 or 1",
            "train_seconds": "seconds of training",
        },
        **results,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"written to {args.output} after {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
