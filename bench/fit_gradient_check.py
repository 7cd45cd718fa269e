"""What does `fit`'s check of the gradients cost? Steps per second with it and without it.

`fit` makes no update from a step whose gradients hold NaN or Inf (one sum per gradient, read
back with the loss terms in the single transfer a step already makes; an exact look at every
entry only when that sum is not finite).
This script trains the chapters' 784-400-20 VAE on the bundled MNIST subset with `fit` as it is
and with that check replaced by a constant "all finite", alternating the two, several rounds each,
in one process, so a busy machine slows both alike. The ratio of the median rates is the check's
cost; 1.0 means free. It also times the check alone, as a fraction of an unchecked step.

    python bench/fit_gradient_check.py [--device cuda] [--output bench/results/fit_gradient_check.json]
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
import vaelib.train
from vaelib.losses import elbo


def _unchecked(grads, like):
    return torch.ones((), dtype=torch.bool, device=like.device)


def steps_per_second(x, steps: int, batch_size: int, seed: int, check: bool) -> float:
    original = vaelib.train._all_finite
    vaelib.train._all_finite = original if check else _unchecked
    try:
        vaelib.seed_everything(seed)
        model = vaelib.VAE(20, hidden=(400,)).to(x.device)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        vaelib.fit(model, lambda m, xb: elbo(m, xb), x, steps=steps, batch_size=batch_size,
                   transform=vaelib.binarize, progress=False, seed=seed)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return steps / (time.perf_counter() - start)
    finally:
        vaelib.train._all_finite = original


def check_seconds(x, batch_size: int, repeats: int = 300) -> float:
    """Seconds per call of the check alone, on the gradients of one real step."""
    vaelib.seed_everything(0)
    model = vaelib.VAE(20, hidden=(400,)).to(x.device)
    loss = elbo(model, vaelib.binarize(x[:batch_size])).loss
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    vaelib.train._all_finite(grads, loss).item()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        vaelib.train._all_finite(grads, loss)
    vaelib.train._all_finite(grads, loss).item()  # waits for the queued work on a GPU
    return (time.perf_counter() - start) / (repeats + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="steps per round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of each variant")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: vaelib.get_device())")
    parser.add_argument("--output", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args()

    device = vaelib.get_device(args.device)
    x = vaelib.load_mnist("train", source="subset", device=device).x
    steps_per_second(x, 100, args.batch_size, 0, True)  # warm-up: allocator, kernels, caches
    rates: dict[str, list[float]] = {"checked": [], "unchecked": []}
    for r in range(args.rounds):
        # Alternate which variant goes first, so a drift in the machine's load favours neither.
        for name in (("checked", "unchecked") if r % 2 == 0 else ("unchecked", "checked")):
            rates[name].append(steps_per_second(x, args.steps, args.batch_size, r, name == "checked"))
            print(f"round {r + 1}: {name:>9}: {rates[name][-1]:,.1f} steps/s", flush=True)

    checked, unchecked = statistics.median(rates["checked"]), statistics.median(rates["unchecked"])
    check_s = check_seconds(x, args.batch_size)
    result = {
        **run_header(device, args),
        "checked_steps_per_s": round(checked, 1),
        "unchecked_steps_per_s": round(unchecked, 1),
        "checked_over_unchecked": round(checked / unchecked, 3),
        "check_alone_us": round(check_s * 1e6, 1),
        "check_alone_over_unchecked_step": round(check_s * unchecked, 4),
    }
    print(json.dumps(result, indent=2))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
