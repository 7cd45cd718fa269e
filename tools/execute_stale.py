"""Execute chapters under nbval, side by side, storing their outputs in the book's execution cache.

`make book` runs this before Jupyter Book: the chapters that changed since their last run (all of
them in a fresh clone) are executed the way `make notebooks` executes them (nbval, two chapters at
a time, each kernel with one compute thread, each chapter alone with vaelib from a wheel; see
tests/standalone.py), and tests/nbval_cache.py stores their outputs in the cache that the book build
then reads. Jupyter Book alone would execute them one after another, leaving a core idle most of
the time. A chapter whose run fails is not cached, and this exits non-zero with nbval's report.

    python tools/execute_stale.py chapters/*.ipynb                # two at a time
    python tools/execute_stale.py --workers 1 chapters/*.ipynb    # one after another
    python tools/execute_stale.py --all chapters/*.ipynb -- --durations=15   # `make notebooks`

`--all` runs every chapter given, cached or not: `make notebooks` tests them all this way. Arguments
after ``--`` go to pytest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
TIMES = ROOT / "bench" / "results" / "ci_time.json"  # each chapter's seconds in the last measured run


def queue_order(chapters: list[Path], workers: int = 2, times: Path = TIMES) -> list[Path]:
    """The queue the workers take the chapters from, so that the last one finishes soonest.

    Each worker takes the next chapter in the queue when it finishes one. Running the longest
    first is not enough: with nine chapters on two workers it can still leave a long chapter to
    one worker at the end while the other idles for a minute. So every way of sharing the
    measured chapters out among the workers is tried (two workers and nine chapters: 512 ways),
    the share whose longest part is shortest wins, and the queue lists the chapters in the order
    the workers would start them, each worker's part longest first (a short chapter at the end
    absorbs a worker that runs late). Chapters with no measurement go first (their time is
    unknown); with too many chapters to try every share, or with no measurements at all, the
    order is longest first, or the order given.
    """
    try:
        seconds = json.loads(times.read_text()).get("chapters", {})
    except (OSError, ValueError):
        seconds = {}
    unmeasured = [p for p in chapters if p.stem not in seconds]
    measured = sorted((p for p in chapters if p.stem in seconds), key=lambda p: -seconds[p.stem])
    if workers < 2 or len(measured) <= workers or workers ** len(measured) > 200_000:
        return unmeasured + measured
    best = None
    for share in itertools.product(range(workers), repeat=len(measured)):
        loads = [0.0] * workers
        for chapter, worker in zip(measured, share, strict=True):
            loads[worker] += seconds[chapter.stem]
        if best is None or max(loads) < best[0]:
            best = (max(loads), share)
    starts = []  # (when the worker would start it, the chapter), each part longest first
    clocks = [0.0] * workers
    for chapter, worker in zip(measured, best[1], strict=True):
        starts.append((clocks[worker], -seconds[chapter.stem], chapter))
        clocks[worker] += seconds[chapter.stem]
    return unmeasured + [chapter for *_, chapter in sorted(starts, key=lambda s: s[:2])]


def stale(chapters: list[Path], cache_path: Path = CACHE) -> list[Path]:
    """The chapters whose code cells (and kernel) match no cached execution."""
    cache = get_cache(str(cache_path))
    missing = []
    for chapter in chapters:
        try:
            cache.match_cache_notebook(nbformat.read(chapter, as_version=4))
        except KeyError:
            missing.append(chapter)
    return missing


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # for pytest
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=2, help="chapters run side by side (default 2)")
    parser.add_argument("--all", action="store_true", help="run every chapter given, cached or not")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    todo = list(args.chapters) if args.all else stale(args.chapters)
    if not todo:
        print("every chapter has a cached run: nothing to execute")
        return 0
    workers = min(args.workers, len(todo))
    todo = queue_order(todo, workers)
    print(f"executing {len(todo)} chapter(s), {workers} at a time: {', '.join(p.stem for p in todo)}")
    # Each kernel one compute thread, always: two chapters share the two cores, and a chapter's
    # numbers depend only on the code and the processor, never on how many chapters were stale (a
    # second thread sums in another order, and a trained model ends elsewhere), so they are those
    # of `make test` and of bench/claims.py's seed 0.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tests.standalone", *map(str, todo), "--",
               "--nbval-cell-timeout=900", "-q", "-n", str(workers), "--dist", "loadfile",
               "--no-loadscope-reorder", *extra]  # keep queue_order's order, not the cell counts
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
