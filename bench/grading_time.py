"""How long grading a class takes: seconds per submission on one core, and peak memory, per chapter.

    python bench/grading_time.py                          # every chapter, 4 solved copies each
    python bench/grading_time.py --chapters 04_vae --copies 60 --jobs 2   # a class of 60

For each chapter: a folder of solved copies (the reference solutions pasted into the student
version, what a class of perfect learners hands in) and one student version (stubs only) is
graded in the sandbox with ``--jobs`` submissions side by side, one compute thread each; each
submission's CPU time is recorded beside its wall time (on a busy machine the wall time grows, the
CPU time of a one-thread run stays what an idle core would take). The
solved copies must get full marks and the stubs none (else the run fails: a fast grade that is
wrong is worth nothing). The results go to ``bench/results/grading_time.json``, which the
instructor guide's table reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import nbformat

from coursegrader import grade_folder, load_chapter, make_student_version, write_solved_copies

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "grading_time.json"


def measure(chapter: Path, copies: int, jobs: int, work: Path, full: bool) -> dict:
    folder = work / chapter.stem
    for old in [*folder.glob("*.ipynb"), folder / "feedback", folder / ".grading" / "rows"]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    # .grading/snapshots stays: the reference run is paid once per chapter (as in a real class)
    write_solved_copies(chapter, folder, copies)
    nbformat.write(make_student_version(nbformat.read(chapter, as_version=4)).notebook,
                   folder / "zz_stubs.ipynb")
    load_before, start = os.getloadavg()[0], time.monotonic()
    rows = grade_folder(folder, chapter, jobs=jobs, threads=1, fast=not full, cell_timeout=3600,
                        total_timeout=7200)
    wall = time.monotonic() - start
    total = len(load_chapter(chapter).specs)
    solved = [r for r in rows if r.submission.startswith("learner_")]
    stubs = next(r for r in rows if r.submission == "zz_stubs.ipynb")
    wrong = [r.submission for r in solved if r.passed != total or r.status != "ok"]
    if wrong or stubs.passed:
        raise SystemExit(f"{chapter.stem}: solved copies graded below full marks ({wrong}) or the "
                         f"stubs passed {stubs.passed}: the grading is wrong, not slow")
    info_files = list((folder / ".grading" / "snapshots").glob("*/info.json"))
    newest = max(info_files, key=lambda p: p.stat().st_mtime) if info_files else None  # this chapter's
    reference = json.loads(newest.read_text()) if newest else {}
    seconds, cpu = [r.seconds for r in solved], [r.cpu_seconds for r in solved]
    return {
        "chapter": chapter.stem, "path": "full" if full else "fast", "copies": copies, "jobs": jobs,
        "exercises": total, "seconds_mean": statistics.fmean(seconds), "seconds_max": max(seconds),
        "cpu_seconds_mean": statistics.fmean(cpu), "cpu_seconds_max": max(cpu),
        "peak_mb_max": max(r.peak_mb for r in solved),
        "reference_seconds": reference.get("seconds", 0.0),
        "reference_cpu_seconds": reference.get("cpu_seconds", 0.0),
        "reference_peak_mb": reference.get("peak_mb", 0.0),
        "wall_seconds": wall, "submissions": len(rows),
        # the machine's load while it ran: wall times above 1 per core were shared with other work
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="+", default=None, help="chapter stems (default: all)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="time the full path instead of the fast one")
    parser.add_argument("--work", type=Path, default=ROOT / "_build" / "grading-time")
    parser.add_argument("--no-save", action="store_true", help="print only; leave the results file alone")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args(argv)
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    if args.chapters:
        chapters = [c for c in chapters if c.stem in args.chapters]
        if len(chapters) != len(args.chapters):
            raise SystemExit(f"unknown chapter in {args.chapters}")
    os.environ.setdefault("VAELIB_OFFLINE", "1")
    results = json.loads(args.results.read_text()) if args.results.is_file() else {"chapters": {}}
    results["header"] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
                         "python": platform.python_version(), "threads_per_submission": 1}
    for chapter in chapters:
        row = measure(chapter, args.copies, args.jobs, args.work, args.full)
        key = f"{row['chapter']}:{row['path']}" + (f":{row['copies']}" if row["copies"] > 10 else "")
        results["chapters"][key] = row
        print(json.dumps(row), flush=True)
        if not args.no_save:
            args.results.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
