"""Would the chapters train or evaluate faster another way, with the same results?

Each variant runs against the course's own loop on the same work, alternating in rounds in one
process (a busy machine slows both alike), one compute thread as in `make test`'s kernels:

- training steps of chapter 6's sprites VAE (SPRITES_RECIPE's model and batch size) and of the
  course's MNIST VAE (COURSE_RECIPE's), with Adam as the course runs it (PyTorch's default on
  the CPU, one parameter at a time), Adam's `foreach` and `fused` kernels, `torch.compile`, and
  twice the batch (examples per second: a larger batch trains differently and would need its
  learning rate and budget tuned again);
- the importance-sampled log-likelihood of chapter 4 (K = 100 here) under `torch.no_grad`, as
  vaelib evaluates, and under `torch.inference_mode`;
- the same estimate with K = 1000 as chapter 4 takes it, its codes decoded in chunks of at most
  2**20 pixels (vaelib's default on the CPU) and of 2**24 (its earlier default, still the GPU's).

For every training variant the script also reports whether the weights after the same steps are
bitwise those of the course's loop: a variant that changes them changes every number a chapter
prints and every claim `bench/claims.py` checks, so it is only worth having if it wins a lot.

    python bench/training_speedups.py       # writes bench/results/training_speedups.json
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
from run_header import run_header  # bench/ is on the path when a script here runs

import vaelib
from vaelib.evaluate import bounds
from vaelib.losses import elbo
from vaelib.recipes import COURSE_RECIPE, SPRITES_RECIPE

RESULTS = Path(__file__).resolve().parent / "results" / "training_speedups.json"


def _steps(model, x, steps: int, batch_size: int, lr: float, optimizer: dict, step_fn=None) -> float:
    """``steps`` Adam steps on seeded batches; returns seconds."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, **optimizer)
    gen = torch.Generator().manual_seed(0)
    loss_of = step_fn or (lambda m, xb: elbo(m, xb).loss)
    start = time.perf_counter()
    for _ in range(steps):
        xb = x[torch.randint(0, x.shape[0], (batch_size,), generator=gen)]
        loss = loss_of(model, xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def training_variants(build, x, batch_size: int, lr: float, steps: int, rounds: int) -> dict:
    """Examples per second of each variant (median of the rounds), its ratio to the course's loop,
    and whether it leaves the same weights."""
    variants = {
        "course loop (Adam, one tensor at a time)": dict(optimizer={}),
        "Adam foreach": dict(optimizer={"foreach": True}),
        "Adam fused": dict(optimizer={"fused": True}),
        f"batch {2 * batch_size}": dict(optimizer={}, batch_size=2 * batch_size),
    }
    try:  # torch.compile needs a C++ compiler for the CPU; a machine without one skips it
        probe = torch.compile(build())
        _steps(probe, x, 2, batch_size, lr, {})
        variants["torch.compile (the model)"] = dict(optimizer={}, compiled=True)
    except Exception as error:  # noqa: BLE001 - any failure means "not available here"
        variants["torch.compile (the model)"] = dict(unavailable=f"{type(error).__name__}: {str(error)[:120]}")
    torch.manual_seed(0)
    start_model = build()
    rates: dict[str, list[float]] = {name: [] for name, v in variants.items() if "unavailable" not in v}
    finals: dict[str, torch.Tensor] = {}
    for _ in range(rounds):
        for name in rates:
            v = variants[name]
            model = copy.deepcopy(start_model)
            run = torch.compile(model) if v.get("compiled") else model
            b = v.get("batch_size", batch_size)
            _steps(run, x, 3, b, lr, v["optimizer"])  # warm-up (and compilation) outside the clock
            model = copy.deepcopy(start_model)
            run = torch.compile(model) if v.get("compiled") else model
            seconds = _steps(run, x, steps, b, lr, v["optimizer"])
            rates[name].append(steps * b / seconds)
            finals[name] = _weights(model)
    base_name = next(iter(rates))
    base = statistics.median(rates[base_name])
    out = {}
    for name, v in variants.items():
        if "unavailable" in v:
            out[name] = {"unavailable": v["unavailable"]}
            continue
        rate = statistics.median(rates[name])
        same = v.get("batch_size") is None and torch.equal(finals[name], finals[base_name])
        out[name] = {"examples_per_s": round(rate), "ratio_to_course_loop": round(rate / base, 3),
                     "same_weights": bool(same)}
    return out


def _timed(variants: dict, rounds: int, ratio_key: str) -> dict:
    """Seconds of each variant (a function returning a tensor; median of the rounds, taken in turn),
    the first variant's time over its own as ``ratio_key``, and whether it gives the first's values."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    values = {}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            values[name] = run()
            times[name].append(time.perf_counter() - start)
    base_name = next(iter(variants))
    base = statistics.median(times[base_name])
    return {name: {"seconds": round(statistics.median(t), 3), ratio_key: round(base / statistics.median(t), 3),
                   "same_values": bool(torch.equal(values[name], values[base_name]))}
            for name, t in times.items()}


def evaluation_modes(model, x, samples: int, rounds: int) -> dict:
    """The importance-sampled log-likelihood under no_grad (vaelib's) and inference_mode."""
    fn = bounds.importance_log_likelihood.__wrapped__  # the function without its no_grad

    def under(context):
        def run():
            with context():
                return fn(model, x, samples=samples, seed=0)
        return run

    return _timed({"no_grad": under(torch.no_grad), "inference_mode": under(torch.inference_mode)}, rounds,
                  "ratio_to_no_grad")


def chunk_sizes(model, x, samples: int, rounds: int) -> dict:
    """The importance-sampled log-likelihood with the CPU's default chunks and with 64 MB ones."""
    def chunks_of(size: int):
        return lambda: bounds.importance_log_likelihood(model, x, samples=samples, seed=0, max_elements=size)

    return _timed({"2**20 pixels (default on the CPU)": chunks_of(2**20), "2**24 pixels": chunks_of(2**24)},
                  rounds, "ratio_to_default")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps per round and variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.batch_size = SPRITES_RECIPE.batch_size
    device = torch.device("cpu")

    sprites = vaelib.make_sprites().x
    mnist = vaelib.fixed_binarization(vaelib.load_mnist("train", source="subset").x, seed=0)
    test = vaelib.fixed_binarization(vaelib.load_mnist("test", source="subset").x[:200], seed=0)

    def sprites_vae():
        return vaelib.VAE(SPRITES_RECIPE.latent_dim, hidden=SPRITES_RECIPE.hidden, image_shape=(1, 32, 32))

    def mnist_vae():
        return vaelib.VAE(COURSE_RECIPE.latent_dim, hidden=COURSE_RECIPE.hidden)

    result = {**run_header(device, args), "threads": 1}
    print("chapter 6's sprites VAE ...", flush=True)
    result["sprites_training"] = training_variants(sprites_vae, sprites, SPRITES_RECIPE.batch_size,
                                                   SPRITES_RECIPE.lr, args.steps, args.rounds)
    print("the course's MNIST VAE ...", flush=True)
    result["mnist_training"] = training_variants(mnist_vae, mnist, COURSE_RECIPE.batch_size, COURSE_RECIPE.lr,
                                                 args.steps, args.rounds)
    print("chapter 4's importance-sampled log-likelihood ...", flush=True)
    torch.manual_seed(0)
    result["evaluation_k100"] = evaluation_modes(mnist_vae().eval(), test, 100, args.rounds)
    print("... and its chunks, K = 1000", flush=True)
    torch.manual_seed(0)
    result["evaluation_k1000_chunks"] = chunk_sizes(mnist_vae().eval(), test, 1000, args.rounds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
