"""The header every timing benchmark writes first: where and how it measured."""

from __future__ import annotations

import argparse
import platform

import torch


def run_header(device: torch.device, args: argparse.Namespace) -> dict:
    """Device, machine, PyTorch version and the round settings (``steps``, ``rounds``, ``batch_size``)."""
    return {
        "device": str(device),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
    }
