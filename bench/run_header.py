"""The header every timing benchmark writes first: where and how it measured."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def cpu_model() -> str:
    """The processor's name as Linux reports it: the same two cores can be twice as fast on one
    machine as on another (AVX-512 or not), and train to slightly different numbers, so a time or
    a result means little without it."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return f"{name}, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


def run_header(device: torch.device, args: argparse.Namespace) -> dict:
    """Device, machine, PyTorch version and the round settings (``steps``, ``rounds``, ``batch_size``)."""
    import torch  # here, so that bench/ci_time.py can read the processor with a Python without torch

    return {
        "device": str(device),
        "machine": f"{cpu_model()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
    }
