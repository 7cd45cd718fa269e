"""Grade a folder of submitted notebooks against a chapter's checks.

Each submission is copied into a sandbox of its own (:mod:`vaelib.assignments.sandbox`), where
:mod:`vaelib.assignments.runner` runs its code cells in order, the learner's own check cells
left out, and then the *probes* of the chapter's reference checks: they collect the learner's
answers as plain data (letters, numbers, the outputs of the learner's functions on inputs the
checks choose) into a JSON file. After the sandbox has ended, this process reads that file,
validates it strictly, and runs the checks' *judges* on it (:class:`vaelib.checks.Check`): a
verdict is never read from text the learner's code printed, and nothing the code does inside the
sandbox (printing, rebinding ``checks``, monkeypatching ``vaelib`` or ``torch``, forging the
JSON file) can make a wrong answer pass. The grade table is written after every sandbox has
ended, by this process only, to a folder no sandbox can see.

Without bubblewrap the grader refuses to run unless ``trusted=True`` (``--trusted``): the same
protocol then runs in plain child processes with the same limits but without isolation, and the
table says so on every row.

The code flags (``SUSPICIOUS``) are hints for the instructor, not verdicts: they point at code
that reaches into the checking machinery or the interpreter, which in the sandbox cannot change
a grade but may deserve a look.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..checks import Check, registry
from ..checks.data import DataError, loads
from .sandbox import Limits, find_bwrap, free_uid, run_runner

__all__ = ["grade_folder", "GradeRow", "reference_checks", "probe_specs", "SUSPICIOUS"]

_EXERCISE_LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)")
# Code that reaches into the checking machinery, the process or the interpreter's import system.
# `(?<![.\w])eval` leaves `model.eval()` alone; `=(?!=)` leaves comparisons alone.
SUSPICIOUS = {
    "touches the check results": r"\bCheckResult\b|\brun_check\b|_repr_html_|\bNOT_WRITTEN\b",
    "reassigns a check": r"\bchecks\.\w+\s*=(?!=)|vaelib\.checks\.\w+\s*=(?!=)",
    "uses the checks' internals": r"\bchecks\.(?:\w+\.)*_\w+|\b(?:probe|judge|collect|decide|registry)\b\s*\(",
    "edits modules or builtins": r"\bsys\.modules\b|\bbuiltins\b|\bimportlib\b|__import__",
    "runs other programs": r"\bsubprocess\b|\bos\.system\b|\bos\.exec|\bos\.spawn|\bpty\b|\bos\.fork\b",
    "runs generated code": r"(?<![.\w])(?:exec|eval|compile)\s*\(",
    "sets grading variables": r"VAELIB_STRICT_CHECKS|\bos\.environ\[[^\]]+\]\s*=(?!=)|\bos\.environ\.(?:update|setdefault)\b",
}
_MAX_NOTEBOOK_BYTES = 50 << 20
_MAX_RESULTS_BYTES = 32 << 20


@dataclass
class GradeRow:
    """One submission's grade.

    Attributes:
        submission: the file name.
        status: ``ok``, ``stubs left``, ``errors``, ``cell timeout``, ``timeout``, ``unreadable``.
        results: exercise label -> ``pass``, ``fail``, ``error`` or ``not run``.
        messages: exercise label -> the check's message or the error.
        flags: reasons the notebook looks as if it tampers with grading.
        detail: a short explanation of the status.
        limit: the limit that stopped the notebook or one of its cells: ``wall time``, ``cell
            time``, ``memory``, ``processes``, or ``""``.
        mode: ``sandbox`` or ``TRUSTED (no sandbox)``.
        seconds: wall time of the submission's run.
    """

    submission: str
    status: str = "ok"
    results: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    detail: str = ""
    limit: str = ""
    mode: str = "sandbox"
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(v == "pass" for v in self.results.values())


_CHECK_CALL = re.compile(r"^\s*checks\.(?:\w+\.)*check_\w+\(.*\)\s*$")


def _is_check_cell(cell) -> bool:
    """A cell tagged ``check``, or one that holds nothing but calls of checks."""
    if cell.cell_type != "code":
        return False
    if "check" in cell.get("metadata", {}).get("tags", []):
        return True
    lines = [ln for ln in cell.source.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_CHECK_CALL.match(ln) for ln in lines)


def reference_checks(reference: nbformat.NotebookNode) -> list[tuple[str, nbformat.NotebookNode]]:
    """The reference notebook's check cells, each with the label of the exercise it checks."""
    label, found = "", []
    for cell in reference.cells:
        if cell.cell_type == "markdown":
            m = _EXERCISE_LABEL.search(cell.source)
            label = m.group(1) if m else label
        elif _is_check_cell(cell):
            found.append((label or f"check-{len(found) + 1}", cell))
    if not found:
        raise ValueError("The reference notebook has no check cells (cells tagged 'check').")
    return found


def probe_specs(checks: list[tuple[str, nbformat.NotebookNode]]) -> list[dict]:
    """For each reference check cell, the check it calls and the source of its arguments.

    Raises:
        ValueError: a check cell that is not a single call of a registered :class:`Check`.
    """
    known = registry()
    specs = []
    for label, cell in checks:
        try:
            tree = ast.parse(cell.source, mode="eval")
        except SyntaxError:
            raise ValueError(f"The check cell of '{label}' must be one call, e.g. "
                             f"checks.check_x(answer); it is: {cell.source!r}") from None
        call = tree.body
        name = call.func.attr if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) else ""
        if name not in known or call.keywords:
            raise ValueError(f"The check cell of '{label}' calls {name or cell.source!r}, which is not "
                             "a registered check (a vaelib.checks.Check); only those can be graded.")
        specs.append({"label": label, "check": name, "args": [ast.unparse(a) for a in call.args]})
    return specs


def _flags(nb: nbformat.NotebookNode) -> list[str]:
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not _is_check_cell(c))
    return [reason for reason, pattern in SUSPICIOUS.items() if re.search(pattern, code)]


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
        row.status, row.detail = "stubs left", f"{stub_errors} exercise(s) not written"


def _judge(row: GradeRow, probes: dict, specs: list[dict], known: dict[str, Check]) -> None:
    for spec in specs:
        label = spec["label"]
        outcome = probes.get(label)
        if outcome is None:
            row.results[label], row.messages[label] = "not run", "the notebook ended before this check"
            continue
        result = known[spec["check"]].decide(outcome, seed=spec.get("seed"), strict=False)
        kind = outcome.get("outcome") if isinstance(outcome, dict) else None
        row.results[label] = "pass" if result.passed else "error" if kind == "raised" else "fail"
        row.messages[label] = result.message[:300]


def _remove(path: Path) -> None:
    def unlock(func, target, _exc):  # a submission may leave folders without write permission
        os.chmod(os.path.dirname(target), 0o700)
        func(target)

    shutil.rmtree(path, onerror=unlock)


def grade_folder(submissions: Path, reference: Path, *, cell_timeout: int = 300,
                 total_timeout: int = 1800, csv_path: Path | None = None,
                 context: Path | None = None, trusted: bool = False,
                 limits: Limits | None = None) -> list[GradeRow]:
    """Grade every ``*.ipynb`` in ``submissions`` against the check cells of ``reference``.

    Args:
        submissions: a folder of submitted notebooks (one per learner, any file names).
        reference: the chapter notebook whose exercises were assigned.
        cell_timeout: seconds one cell may run before it is interrupted.
        total_timeout: seconds one whole notebook may run before its sandbox is killed.
        csv_path: where to write the table (default: ``grades.csv`` in ``submissions``).
        context: the repository root, whose ``bench/results`` folder a chapter may read
            (read-only); default: the folder above the reference notebook's folder.
        trusted: grade without a sandbox (see the module docstring); only for code you trust.
        limits: memory, process and file limits; ``cell_timeout`` and ``total_timeout`` win
            over its time fields.

    Returns:
        One :class:`GradeRow` per submission, also written as CSV and printed.

    Raises:
        ValueError: no such folder, a reference without gradable checks, or no bubblewrap
            without ``trusted``.
    """
    submissions, reference = Path(submissions), Path(reference)
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submitted notebooks.")
    checks = reference_checks(nbformat.read(reference, as_version=4))
    specs = probe_specs(checks)
    labels = [label for label, _ in checks]
    bwrap = None
    if not trusted:
        bwrap, why_not = find_bwrap()
        if bwrap is None:
            raise ValueError(why_not)
    mode = "TRUSTED (no sandbox)" if trusted else "sandbox"
    limits = Limits(**{**(limits or Limits()).__dict__, "wall_s": total_timeout, "cell_s": cell_timeout})
    context = Path(context) if context else reference.resolve().parent.parent
    bench = context / "bench" / "results"
    known = registry()
    import vaelib

    package_dir = Path(vaelib.__file__).resolve().parent
    rows, start = [], time.monotonic()
    for path in sorted(submissions.glob("*.ipynb")):
        row = GradeRow(path.name, mode=mode)
        rows.append(row)
        try:
            submission = _read_submission(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not raised
            row.status, row.detail = "unreadable", f"{type(err).__name__}: {str(err)[:200]}"
            row.results = dict.fromkeys(labels, "not run")
            continue
        row.flags = _flags(submission)
        cells = [c.source for c in submission.cells if c.cell_type == "code" and not _is_check_cell(c)]
        tmp = Path(tempfile.mkdtemp(prefix="vaelib-grade-"))
        try:
            _grade_one(row, path, cells, specs, known, tmp, limits, bwrap, package_dir,
                       {bench: "/grade/bench/results"} if bench.is_dir() else {})
        finally:
            _remove(tmp)
    _write_csv(rows, labels, csv_path or submissions / "grades.csv")
    _print_table(rows, labels)
    print(f"graded {len(rows)} submission(s) in {time.monotonic() - start:.1f} s ({mode})")
    return rows


def _grade_one(row: GradeRow, path: Path, cells: list[str], specs: list[dict],
               known: dict[str, Check], tmp: Path, limits: Limits, bwrap: str | None,
               package_dir: Path, extra_ro: dict[Path, str]) -> None:
    sandbox = bwrap is not None
    uid = free_uid() if sandbox and os.getuid() == 0 else None
    # Fresh inputs for every submission's functions: an answer tuned to the book's inputs fails.
    specs = [{**s, "seed": secrets.randbelow(2**31 - 1) + 1} if known[s["check"]].seeded else s
             for s in specs]
    work, out = tmp / "chapters", tmp / "out"
    work.mkdir()
    out.mkdir()
    shutil.copyfile(path, work / "submission.ipynb")  # graded on a copy, never in place
    spec = tmp / "spec.json"
    spec.write_text(json.dumps({"cells": cells, "probes": specs, "cell_timeout": int(limits.cell_s),
                                "out": "/grade/out" if sandbox else str(out), "uid": uid,
                                "sandbox": sandbox}))
    os.chmod(tmp, 0o711)
    os.chmod(spec, 0o644)
    if uid is not None:
        for folder in (work, out, work / "submission.ipynb"):
            os.chown(folder, uid, uid)
    run = run_runner(spec, work, out, tmp / "log.txt", limits, uid=uid if uid is not None else -1,
                     bwrap=bwrap, package_dir=package_dir, extra_ro=extra_ro if sandbox else {})
    row.seconds = run.seconds
    left = f"; {run.leftovers} process(es) were still running when the sandbox ended, and were killed" if run.leftovers else ""
    try:
        document = _read_results(out)
    except (DataError, UnicodeDecodeError) as err:
        document = None
        row.detail = f"the answers could not be read: {str(err)[:200]}"
    if document is None:
        row.results = dict.fromkeys([s["label"] for s in specs], "not run")
        row.status = "timeout" if run.ended_by else "errors"
        row.detail = row.detail or (f"stopped after {limits.wall_s:g} s for the whole notebook" if run.ended_by
                                    else f"the notebook could not be run: {run.log_tail[-200:] or 'no output'}")
        row.limit = run.ended_by
        row.detail += left
        return
    _status_from_cells(document["cells"], row)
    _judge(row, document["probes"], specs, known)
    if run.ended_by:
        row.status, row.limit = "timeout", run.ended_by
        row.detail = f"stopped after {limits.wall_s:g} s for the whole notebook; checks reached before that are graded"
    elif len(document["cells"]) < len(cells) or run.returncode != 0:
        row.status = "errors"
        row.detail = (f"the notebook ended early (exit status {run.returncode}) after "
                      f"{len(document['cells'])} of {len(cells)} cells")
    row.detail += left


def _write_csv(rows: list[GradeRow], labels: list[str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "status", "passed", "total", *labels, "limit", "flags",
                         "detail", "mode", "seconds"])
        for r in rows:
            writer.writerow([r.submission, r.status, r.passed, len(labels),
                             *(r.results[label] for label in labels), r.limit, "; ".join(r.flags),
                             r.detail, r.mode, f"{r.seconds:.1f}"])
    print(f"grades written to {path}")


def _print_table(rows: list[GradeRow], labels: list[str]) -> None:
    width = max([len("submission"), *(len(r.submission) for r in rows)])
    modes = sorted({r.mode for r in rows})
    print(f"graded in: {', '.join(modes) or 'nothing to grade'}")
    print(f"{'submission':<{width}}  {'status':<12} {'passed':>7}  " + "  ".join(labels))
    for r in rows:
        cells = "  ".join(f"{r.results[label]:<{len(label)}}" for label in labels)
        flag = "  SUSPICIOUS: " + "; ".join(r.flags) if r.flags else ""
        flag += f"  [{r.limit} limit]" if r.limit else ""
        print(f"{r.submission:<{width}}  {r.status:<12} {r.passed:>3}/{len(labels):<3}  {cells}{flag}")
