"""Grade one submitted notebook against a chapter's checks.

Each submission is copied into a sandbox of its own (:mod:`coursegrader.sandbox`), where
:mod:`coursegrader.runner` runs its code cells in order, the learner's own check cells left out,
and then the *probes* of the chapter's reference checks: they collect the learner's answers as
plain data (letters, numbers, the outputs of the learner's functions on inputs the checks
choose) into a JSON file. After the sandbox has ended, this process reads that file, validates it
strictly, and runs the checks' *judges* on it (:class:`vaelib.checks.Check`): a verdict is never
read from text the learner's code printed, and nothing the code does inside the sandbox
(printing, rebinding ``checks``, monkeypatching ``vaelib`` or ``torch``, forging the JSON file)
can make a wrong answer pass.

Two paths: the **full** path runs every code cell of the submission; the **fast** path
(:mod:`coursegrader.snapshot`) starts from the reference chapter's state at its exercises and
runs only the submission's exercise cells. Both run the same probes and judges.

Without bubblewrap the grader refuses to run unless ``trusted=True`` (``--trusted``): the same
protocol then runs in plain child processes with the same limits but without isolation, and the
table says so on every row.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from vaelib.checks.wire import DataError, loads

from .chapter import Chapter, exercise_start, flags, is_check_cell
from .sandbox import Limits, free_uid, release_uid, remove_tree, run_runner, work_folder
from .snapshot import Snapshot

__all__ = ["GradeRow", "grade_submission", "Setting", "SandboxError"]


class SandboxError(ValueError):
    """The sandbox itself could not start: the grader's set-up is wrong, not the submission."""

UID_MODE = "process of its own user (no bwrap)"
_MAX_NOTEBOOK_BYTES = 50 << 20
_MAX_RESULTS_BYTES = 32 << 20


@dataclass
class GradeRow:
    """One submission's grade.

    Attributes:
        submission: the file name.
        status: ``ok``, ``stubs left``, ``errors``, ``cell timeout``, ``timeout``, ``unreadable``.
        results: exercise label -> ``pass``, ``fail``, ``error`` or ``not run``.
        messages: exercise label -> the check's message (the hint, for a failed check) or the error.
        flags: reasons the notebook looks as if it tampers with grading.
        detail: a short explanation of the status.
        limit: the limit that stopped the notebook or one of its cells: ``wall time``, ``cell
            time``, ``memory``, ``processes``, or ``""``.
        mode: ``sandbox`` or ``TRUSTED (no sandbox)``.
        path: ``fast`` (exercise cells on the reference run's state) or ``full`` (every cell).
        seconds: wall time of the submission's run.
        cpu_seconds: the CPU time its process reported (with one compute thread, about the wall
            time on an idle core; a measurement for planning, never part of a verdict).
        peak_mb: the peak resident memory of the process that ran it, MiB, as that process
            reported it (a measurement for planning, never part of a verdict).
        sha256: the submitted file's digest (a resumed run regrades a file that changed).
    """

    submission: str
    status: str = "ok"
    results: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    detail: str = ""
    limit: str = ""
    mode: str = "sandbox"
    path: str = "full"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float = 0.0
    sha256: str = ""

    @property
    def passed(self) -> int:
        return sum(v == "pass" for v in self.results.values())

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> GradeRow:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Setting:
    """What every submission of one grading run shares.

    Attributes:
        chapter: the reference chapter (private exercises included).
        limits: time, memory and process limits per submission.
        bwrap: the bubblewrap executable; None grades without a sandbox (trusted mode).
        package_dirs: the ``vaelib`` and ``coursegrader`` folders, bound read-only.
        extra_ro: further read-only binds (the repository's ``bench/results``).
        snapshot: the reference run the fast path starts from; None for the full path.
        threads: compute threads per submission (0: the library default).
        cancel: set to stop every running sandbox (Ctrl-C).
        drop_uid: without ``bwrap``, run each submission as a fresh unprivileged uid (the uid
            mode, :mod:`coursegrader.sandbox`); needs a root grader.
    """

    chapter: Chapter
    limits: Limits
    bwrap: str | None
    package_dirs: list[Path]
    extra_ro: dict[Path, str]
    snapshot: Snapshot | None = None
    threads: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    drop_uid: bool = False

    @property
    def mode(self) -> str:
        if self.bwrap:
            return "sandbox"
        return UID_MODE if self.drop_uid else "TRUSTED (no sandbox)"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_submission(path: Path) -> nbformat.NotebookNode:
    if path.is_symlink() or not path.is_file():
        raise ValueError("not a regular file")
    if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {_MAX_NOTEBOOK_BYTES >> 20} MiB")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _read_results(out: Path) -> dict | None:
    """The runner's ``results.json``, opened without following links, size-checked and validated."""
    try:
        fd = os.open(out / "results.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_RESULTS_BYTES:
            raise DataError(f"results.json is not a regular file under {_MAX_RESULTS_BYTES >> 20} MiB")
        document = loads(f.read(_MAX_RESULTS_BYTES + 1).decode("utf-8", errors="strict"))
    if (not isinstance(document, dict) or not isinstance(document.get("cells"), list)
            or not isinstance(document.get("probes"), dict)):
        raise DataError("results.json does not have the runner's layout")
    return document


def _status_from_cells(cells: list, row: GradeRow) -> None:
    stub_errors, other_errors, timeouts, limits = 0, [], 0, []
    for report in cells:
        if not isinstance(report, dict) or "error" not in report:
            continue
        error, limit = str(report.get("error"))[:60], str(report.get("limit", ""))[:20]
        if limit in ("memory", "processes", "cell time"):
            limits.append(limit)
        if error == "NotImplementedError":
            stub_errors += 1
        elif error in ("CellTimeout", "KeyboardInterrupt"):
            timeouts += 1
        else:
            other_errors.append(f"{error}: {str(report.get('message', ''))[:120]}")
    row.limit = row.limit or (limits[0] if limits else "")
    if timeouts:
        row.status, row.detail = "cell timeout", f"{timeouts} cell(s) interrupted at the time limit"
    elif other_errors:
        row.status, row.detail = "errors", "; ".join(other_errors[:3])
    elif stub_errors:
        row.status, row.detail = "stubs left", f"{stub_errors} cell(s) stopped at a stub (raise NotImplementedError)"


def _judge(row: GradeRow, probes: dict, specs: list[dict], chapter: Chapter) -> None:
    for spec in specs:
        label = spec["label"]
        outcome = probes.get(label)
        if outcome is None:
            row.results[label], row.messages[label] = "not run", "the notebook ended before this check"
            continue
        result = chapter.check_for(spec).decide(outcome, seed=spec.get("seed"), strict=False)
        kind = outcome.get("outcome") if isinstance(outcome, dict) else None
        row.results[label] = "pass" if result.passed else "error" if kind == "raised" else "fail"
        row.messages[label] = result.message[:300]


def _measured(document: dict, key: str) -> float:
    """A measurement the runner reported; anything but a plausible number reads as 0."""
    value = document.get(key)
    return float(value) if isinstance(value, (int, float)) and 0 <= value < 1e7 else 0.0


def preflight(setting: Setting) -> None:
    """Start the sandbox once with no code in it, before any submission: a sandbox or runner that
    cannot start (a missing bind, a broken environment) is the grader's fault and must stop the
    run, not be written down as every student's error.

    Raises:
        SandboxError: with the sandbox's own words.
    """
    tmp = work_folder("preflight")
    sandbox = setting.bwrap is not None
    uid = free_uid() if (sandbox or setting.drop_uid) and os.getuid() == 0 else None
    try:
        work, out = tmp / "chapters", tmp / "out"
        work.mkdir()
        out.mkdir()
        spec = tmp / "spec.json"
        # The private probes load before any cell: a broken probes.py stops the run here. (In the
        # uid mode they are checked by the first submission instead: their folder may be closed.)
        private = "/grade/private/probes.py" if sandbox else str(setting.chapter.private_probes or "")
        with_private = setting.chapter.private_probes is not None and not setting.drop_uid
        spec.write_text(json.dumps({"cells": [], "probes": [], "cell_timeout": 60,
                                    "out": "/grade/out" if sandbox else str(out), "uid": uid,
                                    "sandbox": sandbox, "own_uid": uid is not None,
                                    "private_probes": private if with_private else None}))
        os.chmod(tmp, 0o711)
        os.chmod(spec, 0o644)
        if uid is not None:
            for folder in (work, out):
                os.chown(folder, uid, uid)
        extra = dict(setting.extra_ro)
        if setting.chapter.private_probes:
            extra[setting.chapter.private_probes] = "/grade/private/probes.py"
        run = run_runner(spec, work, out, tmp / "log.txt", Limits(**{**setting.limits.__dict__, "wall_s": 300}),
                         uid=uid if uid is not None else -1, bwrap=setting.bwrap,
                         package_dirs=setting.package_dirs, extra_ro=extra if sandbox else {},
                         threads=1, cancel=setting.cancel)
        try:
            document = _read_results(out)
        except (DataError, UnicodeDecodeError):
            document = None
        if run.returncode != 0 or document is None or document["cells"]:
            raise SandboxError("the sandbox could not start the grader's runner, so no submission "
                               f"was graded: {run.log_tail[-600:] or f'exit status {run.returncode}'}")
    finally:
        remove_tree(tmp)
        release_uid(uid)


def grade_submission(path: Path, setting: Setting) -> GradeRow:
    """Grade one submitted notebook; never raises for anything the submission does."""
    chapter = setting.chapter
    row = GradeRow(path.name, mode=setting.mode)
    try:
        row.sha256 = file_digest(path)
        submission = _read_submission(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not raised
        row.status, row.detail = "unreadable", f"{type(err).__name__}: {str(err)[:200]}"
        row.results = dict.fromkeys(chapter.labels, "not run")
        row.messages = dict.fromkeys(chapter.labels, "the notebook could not be read")
        return row
    row.flags = flags(submission)
    start = exercise_start(submission.cells) if setting.snapshot is not None else None
    row.path = "fast" if start is not None else "full"
    code = [c for c in submission.cells[start or 0:] if c.cell_type == "code" and not is_check_cell(c)]
    tmp = work_folder("submission")
    try:
        _run_and_judge(row, path, [c.source for c in code], setting, tmp)
    finally:
        remove_tree(tmp)
    return row


def _run_and_judge(row: GradeRow, path: Path, cells: list[str], setting: Setting, tmp: Path) -> None:
    chapter, limits, snapshot = setting.chapter, setting.limits, setting.snapshot
    sandbox = setting.bwrap is not None
    fast = row.path == "fast"
    uid = free_uid() if (sandbox or setting.drop_uid) and os.getuid() == 0 else None
    try:
        # Fresh inputs for every submission's functions: an answer tuned to the book's inputs fails.
        specs = [{**s, "seed": secrets.randbelow(2**31 - 1) + 1} if chapter.check_for(s).seeded else s
                 for s in chapter.specs]
        work, out = tmp / "chapters", tmp / "out"
        if fast:  # the files the reference run wrote (checkpoints, ...), as the learner's run would have
            shutil.copytree(snapshot.files, work, symlinks=False)
        else:
            work.mkdir()
        out.mkdir()
        shutil.copyfile(path, work / "submission.ipynb")  # graded on a copy, never in place
        inside = {"out": "/grade/out", "restore": "/grade/snapshot/state.pkl",
                  "private": "/grade/private/probes.py"}
        if not sandbox:
            inside = {"out": str(out), "restore": str(snapshot.state) if fast else "",
                      "private": str(chapter.private_probes or "")}
            if setting.drop_uid:  # their folders may be closed to the submission's user: copies
                if chapter.private_probes:
                    shutil.copyfile(chapter.private_probes, tmp / "probes.py")
                    os.chmod(tmp / "probes.py", 0o644)
                    inside["private"] = str(tmp / "probes.py")
                if fast:
                    shutil.copyfile(snapshot.state, tmp / "state.pkl")
                    os.chmod(tmp / "state.pkl", 0o644)
                    inside["restore"] = str(tmp / "state.pkl")
        spec = tmp / "spec.json"
        spec.write_text(json.dumps({
            "cells": cells, "probes": specs, "cell_timeout": int(limits.cell_s), "out": inside["out"],
            "uid": uid, "sandbox": sandbox, "own_uid": uid is not None,
            "restore": inside["restore"] if fast else None,
            "private_probes": inside["private"] if chapter.private_probes else None}))
        os.chmod(tmp, 0o711)
        os.chmod(spec, 0o644)
        if uid is not None:
            for item in [work, out, *work.rglob("*")]:
                os.lchown(item, uid, uid)
        extra = dict(setting.extra_ro)
        if fast:
            extra[snapshot.state] = "/grade/snapshot/state.pkl"
        if chapter.private_probes:  # the probes only: the judges stay in this process
            extra[chapter.private_probes] = "/grade/private/probes.py"
        run = run_runner(spec, work, out, tmp / "log.txt", limits, uid=uid if uid is not None else -1,
                         bwrap=setting.bwrap, package_dirs=setting.package_dirs,
                         extra_ro=extra if sandbox else {}, threads=setting.threads,
                         cancel=setting.cancel)
    finally:
        release_uid(uid)
    row.seconds = run.seconds
    left = (f"; {run.leftovers} process(es) were still running when the sandbox ended, and were killed"
            if run.leftovers else "")
    try:
        document = _read_results(out)
    except (DataError, UnicodeDecodeError) as err:
        document = None
        row.detail = f"the answers could not be read: {str(err)[:200]}"
    if document is None:
        row.results = dict.fromkeys([s["label"] for s in specs], "not run")
        row.messages = dict.fromkeys([s["label"] for s in specs], "the notebook ended before the checks")
        row.status = "timeout" if run.ended_by else "errors"
        row.detail = row.detail or (f"stopped after {limits.wall_s:g} s for the whole notebook" if run.ended_by
                                    else f"the notebook could not be run: {run.log_tail[-200:] or 'no output'}")
        row.limit = run.ended_by
        row.detail += left
        return
    row.peak_mb, row.cpu_seconds = _measured(document, "peak_mb"), _measured(document, "cpu_s")
    _status_from_cells(document["cells"], row)
    _judge(row, document["probes"], specs, chapter)
    if run.ended_by:
        row.status, row.limit = "timeout", run.ended_by
        row.detail = (f"stopped after {limits.wall_s:g} s for the whole notebook; checks reached before "
                      "that are graded")
    elif len(document["cells"]) < len(cells) or run.returncode != 0:
        row.status = "errors"
        row.detail = (f"the notebook ended early (exit status {run.returncode}) after "
                      f"{len(document['cells'])} of {len(cells)} cells")
    row.detail += left
