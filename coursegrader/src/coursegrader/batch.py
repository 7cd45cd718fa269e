"""Grade a class: every submission of a folder, side by side, resumable, with a progress line.

Each submission's grade is kept as soon as it is decided (``.grading/rows/NAME.json``, written
atomically) and the class table and the student's feedback file are rewritten at once, so an
interrupted run (Ctrl-C, a crash, a reboot) loses only the submissions that were running; with
``resume=True`` the next run skips every submission already graded whose file has not changed
since. ``only`` regrades the named submissions and keeps every other grade.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from .chapter import load_chapter
from .grade import GradeRow, SandboxError, Setting, file_digest, grade_submission, preflight
from .report import atomic_write, print_table, write_feedback, write_table
from .sandbox import Limits, find_bwrap, remove_left_behind
from .snapshot import build_snapshot

__all__ = ["grade_folder", "cpu_count"]

_TITLE = re.compile(r"```\{exercise\}\s*(?P<title>[^\n]*)\n:label:\s*(?P<label>\S+)")


def cpu_count() -> int:
    """CPUs this process may use (a container's or ``taskset``'s limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _package_dirs() -> list[Path]:
    """The ``vaelib`` and ``coursegrader`` folders as this interpreter finds them from outside any
    checkout (what the sandbox's Python will import), not the ones beside the current folder.

    The packages are located, not imported: importing them (torch, nbformat) cost a class
    several seconds at every start."""
    done = subprocess.run([sys.executable, "-c", "import importlib.util as u\n"
                           "for name in ('vaelib', 'coursegrader'):\n"
                           "    spec = u.find_spec(name)\n"
                           "    print(spec.origin if spec and spec.origin else '-')"],
                          capture_output=True, text=True, cwd="/", timeout=120)
    found = done.stdout.split()
    if done.returncode != 0 or len(found) != 2 or "-" in found:
        why = done.stderr[-300:] or "not installed in this environment"
        raise ValueError("this Python cannot import vaelib and coursegrader outside the repository; "
                         f"install both (pip install -e . -e ./coursegrader): {why}")
    return [Path(line).resolve().parent for line in found]


def _chapter_key(setting: Setting) -> str:
    text = json.dumps([setting.chapter.specs, [c.source for c in setting.chapter.notebook.cells],
                       setting.snapshot is not None])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _eta(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def grade_folder(submissions: Path, reference: Path, *, cell_timeout: int = 300,
                 total_timeout: int = 1800, csv_path: Path | None = None, out: Path | None = None,
                 context: Path | None = None, trusted: bool = False, limits: Limits | None = None,
                 jobs: int | None = None, threads: int | None = None, resume: bool = False,
                 only: list[str] | None = None, fast: bool = False, private: Path | None = None,
                 isolation: str = "sandbox", log=print) -> list[GradeRow]:
    """Grade every ``*.ipynb`` in ``submissions`` against the check cells of ``reference``.

    Args:
        submissions: a folder of submitted notebooks (one per learner, any file names).
        reference: the chapter notebook whose exercises were assigned.
        cell_timeout: seconds one cell may run before it is interrupted.
        total_timeout: seconds one whole notebook may run before its sandbox is killed.
        csv_path: where to write the table (default: ``grades.csv`` in ``out``).
        out: the folder for the table, ``feedback/`` and the grader's state ``.grading/``
            (default: ``submissions``).
        context: the repository root, whose ``bench/results`` folder a chapter may read
            (read-only); default: the folder above the reference notebook's folder.
        trusted: grade without a sandbox; only for code you trust.
        limits: memory, process and file limits; ``cell_timeout`` and ``total_timeout`` win
            over its time fields.
        jobs: submissions graded side by side (default: the CPUs).
        threads: compute threads per submission (default: CPUs // jobs, at least 1).
        resume: keep the grades of submissions already graded and unchanged.
        only: file names to (re)grade; every other grade is kept.
        fast: grade each submission's exercise cells on the reference run's state
            (:mod:`coursegrader.snapshot`) instead of running all its cells.
        private: a folder of the instructor's private exercises (:mod:`coursegrader.private`).
        isolation: ``sandbox`` (bubblewrap, the default) or ``uid``: no bubblewrap, each
            submission a plain child process running as a fresh unprivileged uid (for a
            container without user namespaces; needs root). ``trusted`` wins over it.
        log: where progress lines go.

    Returns:
        One :class:`GradeRow` per submission (in file order), also in the table.

    Raises:
        ValueError: no such folder, a reference without gradable checks, an unknown name in
            ``only``, or no bubblewrap without ``trusted``.
    """
    submissions, reference = Path(submissions), Path(reference)
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submitted notebooks.")
    chapter = load_chapter(reference, private)
    paths = sorted(submissions.glob("*.ipynb"))
    names = {p.name for p in paths}
    unknown = sorted(set(only or []) - names)
    if unknown:
        raise ValueError(f"no submission called {', '.join(unknown)} in {submissions}")
    bwrap = None
    if isolation not in ("sandbox", "uid"):
        raise ValueError(f"isolation is 'sandbox' or 'uid', not {isolation!r}")
    drop_uid = isolation == "uid" and not trusted
    if drop_uid and os.getuid() != 0:
        raise ValueError("the uid mode runs each submission as a fresh user: the grader must be root")
    package_dirs = _package_dirs()
    if drop_uid:  # that user must reach the interpreter, the environment and the packages
        hidden = [str(p) for p in (Path(sys.base_prefix).resolve(), Path(sys.prefix), *package_dirs)
                  if any(not q.stat().st_mode & 0o001 for q in (p, *p.parents))]
        if hidden:
            raise ValueError(f"the uid mode's user cannot reach {', '.join(hidden)} (a folder on the "
                             "way is closed to other users, e.g. a Python under /root): use a Python "
                             "and environment other users may read, or bubblewrap")
    if not trusted and not drop_uid:
        bwrap, why_not = find_bwrap()
        if bwrap is None:
            raise ValueError(why_not)
    jobs = max(1, jobs or cpu_count())
    threads = threads or max(1, cpu_count() // jobs)
    limits = Limits(**{**(limits or Limits()).__dict__, "wall_s": total_timeout, "cell_s": cell_timeout})
    context = Path(context) if context else reference.resolve().parent.parent
    bench = context / "bench" / "results"
    out = (Path(out) if out else submissions).resolve()
    state = out / ".grading"
    setting = Setting(chapter, limits, bwrap, package_dirs,
                      {bench: "/grade/bench/results"} if bench.is_dir() else {}, threads=threads,
                      drop_uid=drop_uid)
    left = remove_left_behind()
    if left:
        log(f"removed {len(left)} work folder(s) left under {left[0].parent} by a grader that was killed")
    # The sandbox must start before any grade is written. On the fast path the empty sandbox
    # (mostly Python's start-up) runs beside the reference run, and its error wins over the
    # reference run's: a sandbox that cannot start is the grader's fault, not the chapter's.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
        checking = side.submit(preflight, setting) if paths or fast else None
        if fast:  # also with no submission yet: a Gradescope image builds its reference run at setup
            try:
                setting.snapshot = build_snapshot(chapter.stem, chapter.body_cells(), state / "snapshots",
                                                  limits=limits, bwrap=bwrap, package_dirs=package_dirs,
                                                  extra_ro=setting.extra_ro, threads=max(threads, 1),
                                                  drop_uid=drop_uid, log=log)
            except BaseException:
                checking.result()  # raises the sandbox's own error, if the sandbox is what failed
                raise
        if checking is not None:
            checking.result()
    if setting.snapshot is not None:
        missing = {n for p in chapter.plan() for n in p.uses} & set(setting.snapshot.skipped)
        if missing:
            log(f"the fast path cannot carry {', '.join(sorted(missing))} from the reference run "
                "(not picklable); grading on the full path")
            setting.snapshot = None
    key = _chapter_key(setting)
    rows_dir = state / "rows"
    rows: dict[str, GradeRow] = {}
    for path in paths:  # grades kept from an earlier run of this folder
        saved = rows_dir / f"{path.name}.json"
        if saved.is_file():
            data = json.loads(saved.read_text())
            kept = GradeRow.from_json(data["row"])
            if data.get("key") == key and kept.sha256 == file_digest(path):
                rows[path.name] = kept
    if only:
        todo = [p for p in paths if p.name in only]
    elif resume:
        todo = [p for p in paths if p.name not in rows]
    else:  # a fresh run: no grade of an earlier run survives it, even if it is interrupted
        rows, todo = {}, paths
        for old in rows_dir.glob("*.json") if rows_dir.is_dir() else []:
            old.unlink()
    titles = {m["label"]: m["title"].strip() for c in chapter.notebook.cells if c.cell_type == "markdown"
              for m in _TITLE.finditer(c.source)}
    labels = chapter.labels
    table = Path(csv_path) if csv_path else out / "grades.csv"
    feedback = out / "feedback"
    lock = threading.Lock()

    def record(row: GradeRow) -> None:
        with lock:
            rows[row.submission] = row
            atomic_write(rows_dir / f"{row.submission}.json", json.dumps({"key": key, "row": row.to_json()}))
            write_feedback(row, labels, titles, chapter.stem, feedback)
            write_table([rows[p.name] for p in paths if p.name in rows], labels, table)

    kept = len(paths) - len(todo)
    log(f"grading {len(todo)} submission(s) of {chapter.stem} ({'fast' if setting.snapshot else 'full'} "
        f"path, {setting.mode}, {jobs} at a time, {threads} thread(s) each)"
        + (f"; {kept} kept from the last run" if kept else ""))
    if not todo:
        write_table([rows[p.name] for p in paths if p.name in rows], labels, table)
    start, done = time.monotonic(), 0

    def work(path: Path) -> GradeRow | None:
        row = grade_submission(path, setting)
        return None if setting.cancel.is_set() else row

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(work, p): p for p in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                if row is None:
                    continue
                record(row)
                done += 1
                elapsed = time.monotonic() - start
                eta = elapsed / done * (len(todo) - done)
                log(f"[{done}/{len(todo)}] {row.submission}: {row.status}, {row.passed}/{len(labels)} "
                    f"passed, {row.seconds:.1f} s ({row.path})"
                    + (f"; about {_eta(eta)} left" if done < len(todo) else ""))
        except KeyboardInterrupt:
            setting.cancel.set()
            for f in futures:
                f.cancel()
            log(f"interrupted: {done} of {len(todo)} graded and kept; run again with --resume "
                "to grade the rest")
            raise
        except SandboxError:
            setting.cancel.set()
            for f in futures:
                f.cancel()
            raise
    ordered = [rows[p.name] for p in paths if p.name in rows]
    print_table(ordered, labels)
    log(f"graded {done} submission(s) in {time.monotonic() - start:.1f} s ({setting.mode}); "
        f"table: {table}; feedback: {feedback}/")
    return ordered
