"""The benchmarks' last results, shipped with the package so a chapter can quote them anywhere.

``bench/vae_quality.py``, ``bench/fit_throughput.py``, ``bench/claims.py`` (every comparison of
the book on three seeds) and ``bench/sample_sharpness.py`` (chapter 9's contest, longer) write their JSON files into this folder; the files are package data, so a
chapter reads and quotes them the same way in a clone, in Colab, or from an installed wheel,
without a path into the repository.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

NAMES = ("vae_quality", "fit_throughput", "claims", "sample_sharpness")


def result_path(name: str) -> Path:
    """Where a benchmark's result file lives in the source tree (what the benchmark scripts write).

    Args:
        name: one of :data:`NAMES`.

    Returns:
        The path of ``<name>.json`` inside this package folder.
    """
    _check(name)
    return Path(__file__).resolve().parent / f"{name}.json"


def load(name: str) -> dict:
    """A benchmark's last committed result, as the dictionary its script wrote.

    Args:
        name: one of :data:`NAMES`, e.g. ``"vae_quality"``.

    Returns:
        The parsed JSON (times in seconds, likelihoods in nats per image; see the script).
    """
    _check(name)
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def _check(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown benchmark result {name!r}; the package ships {', '.join(NAMES)}")
