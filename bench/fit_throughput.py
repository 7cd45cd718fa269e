"""Does `vaelib.fit` cost anything? Its throughput against a minimal hand-written loop.

Both loops train the same 784-400-20 VAE on the same preloaded data (the bundled MNIST subset,
dynamically binarized) with the same loss, optimizer and batch size; they alternate, several
rounds each, in one process, so a busy machine slows both alike. The ratio of their median
throughputs is the cost of fit's conveniences (progress bar, history, NaN check, interrupt
handling). The script also measures the machine's float32 matmul rate and reports what fraction
of it the training step reaches.

    python bench/fit_throughput.py            # writes vaelib/bench_results/fit_throughput.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from run_header import run_header  # bench/ is on the path when a script here runs

import vaelib
from vaelib.bench_results import result_path
from vaelib.losses import elbo

RESULTS = result_path("fit_throughput")  # package data, so chapter 4 reads it anywhere


def flops_per_example(sizes=(784, 400, 20)) -> float:
    """Forward + backward FLOPs of the MLP VAE per example (2 per multiply-add).

    Forward: every Linear layer. Backward: a weight gradient for every layer and an input
    gradient for every layer but the first (the data needs no gradient).
    """
    d_in, h, d = sizes
    layers = [(d_in, h), (h, 2 * d), (d, h), (h, d_in)]
    macs = sum(a * b for a, b in layers)
    first = layers[0][0] * layers[0][1]
    return 2.0 * (macs + macs + (macs - first))


def matmul_gflops(device: torch.device, n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def hand_written_loop(model, x, steps: int, batch_size: int, lr: float) -> float:
    """The minimal loop: shuffle, slice, binarize, loss, step. Returns seconds."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    order, cursor = torch.randperm(n, device=x.device), 0
    _sync(x.device)
    start = time.perf_counter()
    for _ in range(steps):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, device=x.device), 0
        xb = torch.bernoulli(x[order[cursor:cursor + batch_size]])
        cursor += batch_size
        loss = elbo(model, xb).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(x.device)
    return time.perf_counter() - start


def with_fit(model, x, steps: int, batch_size: int, lr: float) -> float:
    _sync(x.device)
    start = time.perf_counter()
    vaelib.fit(model, lambda m, xb: elbo(m, xb), x, steps=steps, batch_size=batch_size, lr=lr,
               transform=vaelib.binarize, progress=True, desc="fit")
    _sync(x.device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each loop")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: vaelib.get_device())")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    device = vaelib.get_device(args.device)
    x = vaelib.load_mnist("train", source="subset", device=device).x
    vaelib.seed_everything(0)
    model = vaelib.VAE(20, hidden=(400,)).to(device)
    with_fit(model, x, 100, args.batch_size, 1e-3)  # warm-up: allocator, kernels, caches

    hand, fitted = [], []
    for r in range(args.rounds):
        for name, loop, store in [("hand-written", hand_written_loop, hand), ("fit", with_fit, fitted)]:
            vaelib.seed_everything(r)
            model = vaelib.VAE(20, hidden=(400,)).to(device)
            seconds = loop(model, x, args.steps, args.batch_size, 1e-3)
            store.append(args.steps * args.batch_size / seconds)
            print(f"round {r + 1}: {name:>12}: {store[-1]:,.0f} examples/s", flush=True)

    hand_rate, fit_rate = statistics.median(hand), statistics.median(fitted)
    gflops = matmul_gflops(device)
    flops = flops_per_example()
    result = {
        **run_header(device, args),
        "hand_written_examples_per_s": round(hand_rate),
        "fit_examples_per_s": round(fit_rate),
        "fit_over_hand_written": round(fit_rate / hand_rate, 3),
        "mflop_per_example": round(flops / 1e6, 2),
        "matmul_gflop_per_s": round(gflops, 1),
        "training_gflop_per_s": round(fit_rate * flops / 1e9, 1),
        "fraction_of_matmul_rate": round(fit_rate * flops / 1e9 / gflops, 3),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"fit / hand-written = {result['fit_over_hand_written']:.3f} (goal: >= 0.95)")


if __name__ == "__main__":
    main()
