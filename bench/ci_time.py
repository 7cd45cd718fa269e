"""Where the time of `make test` goes: wall time per step, per chapter, and the slowest tests.

    python bench/ci_time.py            # in this checkout (its .venv is reused if present)
    python bench/ci_time.py --clone    # in a fresh clone of HEAD, venv included: what CI pays

Runs the steps of `make test` one after another (`venv`, `lint`, `unit`, `notebooks`,
`book-from-cache`, `browser`; the same as `make test` does in one go), each timed (wall time, and
how many cores the whole machine kept busy meanwhile, from /proc/stat: a step near the number of
cores cannot go faster by running more at once, only by doing less), with pytest's
`--durations` so the slowest tests and notebook cells are listed. The chapters' own times come
from the execution cache (the seconds nbval spent in each notebook's cells). Prints a Markdown
table and writes `bench/results/ci_time.json`. Any failing step stops the run with its exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_header import cpu_model  # bench/ is on the path when a script here runs

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("venv", "lint", "unit", "notebooks", "book-from-cache", "browser")
_DURATION = re.compile(r"^\s*(\d+\.\d+)s (call|setup|teardown)\s+(.+?)\s*$", re.M)


def _busy_ticks() -> tuple[int, int] | None:
    """(busy, all) clock ticks of every core since boot, from /proc/stat; None off Linux. The whole
    machine's, not the step's own processes': those of a step's children that are not waited for
    (Chromium's renderers, a sandbox's processes) escape getrusage."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields) - fields[3] - fields[4], sum(fields)  # idle and iowait are not busy


def _cores_busy(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    if start is None or end is None or end[1] == start[1]:
        return None
    return round((end[0] - start[0]) / (end[1] - start[1]) * (os.cpu_count() or 1), 2)


def run_step(step: str, repo: Path, log: Path) -> tuple[float, float | None, str]:
    extra = {"unit": ["PYTEST_ARGS=--durations=10"], "browser": ["PYTEST_ARGS=--durations=5"],
             "notebooks": ["NBVAL_ARGS=--durations=15"]}.get(step, [])
    start, ticks = time.monotonic(), _busy_ticks()
    done = subprocess.run(["make", step, *extra], cwd=repo, capture_output=True, text=True)
    seconds, busy = time.monotonic() - start, _cores_busy(ticks, _busy_ticks())
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        print((done.stdout + done.stderr)[-3000:], file=sys.stderr)
        raise SystemExit(f"make {step} failed (exit {done.returncode}); its log: {log}")
    return seconds, busy, done.stdout


CHAPTER_SECONDS = """
import json, sys
from pathlib import Path
from jupyter_cache import get_cache
cache = get_cache(sys.argv[1])
print(json.dumps({Path(r.uri).stem: round(r.data.get("execution_seconds", 0.0), 1)
                  for r in cache.list_cache_records() if "chapters" in r.uri}))
"""


def chapter_seconds(repo: Path) -> dict[str, float]:
    """Each chapter's seconds in its cells, read from the execution cache by the repo's own venv
    (where jupyter_cache is installed; this script may run under any Python)."""
    done = subprocess.run([str(repo / ".venv" / "bin" / "python"), "-c", CHAPTER_SECONDS,
                           str(repo / "_build" / ".jupyter_cache")], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", action="store_true", help="measure a fresh clone of HEAD")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ci_time.json")
    parser.add_argument("--keep", type=Path, default=None,
                        help="an empty folder for the clone and the logs, kept afterwards")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
    with (contextlib.nullcontext(str(args.keep)) if args.keep else
          tempfile.TemporaryDirectory(prefix="ci-time-")) as tmp:
        repo = ROOT
        if args.clone:
            repo = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        steps, busy, slowest, total = {}, {}, [], 0.0
        for step in STEPS:
            seconds, busy[step], out = run_step(step, repo, logs / f"{step}.log")
            steps[step] = round(seconds, 1)
            total += seconds
            slowest += [(float(s), step, name) for s, kind, name in _DURATION.findall(out) if kind == "call"]
            print(f"{step}: {seconds:.0f} s, {busy[step]} cores busy", flush=True)
        chapters = chapter_seconds(repo)
    slowest.sort(reverse=True)
    cpu = cpu_model()
    result = {"clone": args.clone, "cpus": os.cpu_count(), "cpu": cpu, "total_seconds": round(total, 1),
              "steps": steps, "cores_busy": busy, "chapters": chapters,
              "slowest": [{"seconds": s, "step": step, "test": name} for s, step, name in slowest[:15]]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{cpu}, {os.cpu_count()} cores")
    print(f"\n| step | seconds | cores busy (of {os.cpu_count()}) |\n|---|---|---|")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds:.0f} | {busy[step]} |")
    print(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) |\n\n| chapter | seconds in its cells |\n|---|---|")
    for name, seconds in sorted(chapters.items()):
        print(f"| {name} | {seconds:.0f} |")
    print("\n| slowest | seconds |\n|---|---|")
    for s, step, name in slowest[:15]:
        print(f"| {step}: `{name}` | {s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
