"""Grade a folder of submitted notebooks against a chapter's checks.

Each submission runs in its own kernel, in its own temporary folder, in a separate process with a
time limit per cell and for the whole notebook. The learner's own check cells are dropped and the
chapter's reference check cells are run after the learner's code instead, so a check that was
deleted or edited still counts. A notebook that cannot be read, raises at import, loops forever
or looks as if it tampers with the checks is reported as such, and the others are graded anyway.
"""

from __future__ import annotations

import copy
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["grade_folder", "GradeRow", "reference_checks", "SUSPICIOUS"]

_RESULT = re.compile(r"^\[(PASSED|NOT YET)\] (\S+): ", re.M)
_EXERCISE_LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)")
# Code that reaches into the checking machinery, the process or the interpreter's import system.
SUSPICIOUS = {
    "touches the check results": r"\bCheckResult\b|\brun_check\b|_repr_html_|\bNOT_WRITTEN\b",
    "reassigns a check": r"\bchecks\.\w+\s*=(?!=)|vaelib\.checks\.\w+\s*=(?!=)",
    "edits modules or builtins": r"\bsys\.modules\b|\bbuiltins\b|\bimportlib\b|__import__",
    "runs other programs": r"\bsubprocess\b|\bos\.system\b|\bos\.exec|\bos\.spawn|\bpty\b",
    "runs generated code": r"\bexec\s*\(|\beval\s*\(|\bcompile\s*\(",
    "sets grading variables": r"VAELIB_STRICT_CHECKS|\bos\.environ\[[^\]]+\]\s*=",
}


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
    """

    submission: str
    status: str = "ok"
    results: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> int:
        return sum(v == "pass" for v in self.results.values())


_CHECK_CALL = re.compile(r"^\s*checks\.check_\w+\(.*\)\s*$")


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


def _flags(nb: nbformat.NotebookNode) -> list[str]:
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not _is_check_cell(c))
    return [reason for reason, pattern in SUSPICIOUS.items() if re.search(pattern, code)]


def _graded_notebook(submission, checks) -> nbformat.NotebookNode:
    nb = copy.deepcopy(submission)
    nb.cells = [c for c in nb.cells if not _is_check_cell(c)]
    for index, (label, cell) in enumerate(checks):
        graded = nbformat.v4.new_code_cell(cell.source)
        graded.metadata["grader"] = {"index": index, "label": label}
        nb.cells.append(graded)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _execute(nb_path: Path, out_path: Path, workdir: Path, cell_timeout: int, total_timeout: int,
             env: dict[str, str]) -> str | None:
    """Run one notebook in a child process; returns None, or why it did not finish."""
    cmd = [sys.executable, "-m", "vaelib.assignments.grade", "--execute", str(nb_path),
           str(out_path), str(workdir), str(cell_timeout)]
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=total_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel too: it is in the same session
        proc.communicate()
        return f"stopped after {total_timeout} s for the whole notebook"
    if proc.returncode != 0 or not out_path.exists():
        tail = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"the notebook could not be run: {tail[0][:200]}"
    return None


def _run_child(nb_path: str, out_path: str, workdir: str, cell_timeout: str) -> None:
    """Child process: execute with nbclient, keep going past errors, interrupt slow cells."""
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(nb, timeout=int(cell_timeout), allow_errors=True,
                            interrupt_on_timeout=True, kernel_name="python3",
                            resources={"metadata": {"path": workdir}})
    client.execute()
    nbformat.write(nb, out_path)


def _read_results(executed: nbformat.NotebookNode, row: GradeRow, labels: list[str]) -> None:
    stub_errors, other_errors, timeouts = 0, [], 0
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        grader = cell.get("metadata", {}).get("grader")
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if grader is not None:
            label = grader["label"]
            text = "".join(o.get("text", "") if o.output_type == "stream" else
                           o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            match = _RESULT.search(text)
            if match:
                row.results[label] = "pass" if match.group(1) == "PASSED" else "fail"
                row.messages[label] = text[match.end():].strip().splitlines()[0][:300]
            elif errors:
                row.results[label] = "error"
                row.messages[label] = f"{errors[0].ename}: {errors[0].evalue}"[:300]
            continue
        for error in errors:
            if error.ename == "NotImplementedError":
                stub_errors += 1
            elif error.ename in ("KeyboardInterrupt", "CellTimeoutError", "DeadKernelError"):
                timeouts += 1
            else:
                other_errors.append(f"{error.ename}: {error.evalue}"[:120])
    for label in labels:
        row.results.setdefault(label, "not run")
    if timeouts:
        row.status, row.detail = "cell timeout", f"{timeouts} cell(s) interrupted at the time limit"
    elif other_errors:
        row.status, row.detail = "errors", "; ".join(other_errors[:3])
    elif stub_errors:
        row.status, row.detail = "stubs left", f"{stub_errors} exercise(s) not written"


def grade_folder(submissions: Path, reference: Path, *, cell_timeout: int = 300,
                 total_timeout: int = 1800, csv_path: Path | None = None,
                 context: Path | None = None) -> list[GradeRow]:
    """Grade every ``*.ipynb`` in ``submissions`` against the check cells of ``reference``.

    Args:
        submissions: a folder of submitted notebooks (one per learner, any file names).
        reference: the chapter notebook whose exercises were assigned.
        cell_timeout: seconds one cell may run before it is interrupted.
        total_timeout: seconds one whole notebook may run before its process is killed.
        csv_path: where to write the table (default: ``grades.csv`` in ``submissions``).
        context: the repository root, whose ``bench/`` folder a chapter may read; default: the
            folder above the reference notebook's folder.

    Returns:
        One :class:`GradeRow` per submission, also written as CSV and printed.
    """
    submissions, reference = Path(submissions), Path(reference)
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submitted notebooks.")
    checks = reference_checks(nbformat.read(reference, as_version=4))
    labels = [label for label, _ in checks]
    context = Path(context) if context else reference.resolve().parent.parent
    env = {**os.environ, "VAELIB_STRICT_CHECKS": "0", "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    rows = []
    for path in sorted(submissions.glob("*.ipynb")):
        row = GradeRow(path.name)
        rows.append(row)
        try:
            submission = nbformat.read(path, as_version=4)
            nbformat.validate(submission)
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not raised
            row.status, row.detail = "unreadable", f"{type(err).__name__}: {str(err)[:200]}"
            row.results = dict.fromkeys(labels, "not run")
            continue
        row.flags = _flags(submission)
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            work = Path(tmp) / "chapters"
            work.mkdir()
            if (context / "bench").is_dir():
                shutil.copytree(context / "bench" / "results", Path(tmp) / "bench" / "results",
                                dirs_exist_ok=True)
            graded, executed = Path(tmp) / "graded.ipynb", Path(tmp) / "executed.ipynb"
            nbformat.write(_graded_notebook(submission, checks), graded)
            failure = _execute(graded, executed, work, cell_timeout, total_timeout, env)
            if failure:
                row.status, row.detail = "timeout" if "stopped" in failure else "errors", failure
                row.results = dict.fromkeys(labels, "not run")
                continue
            _read_results(nbformat.read(executed, as_version=4), row, labels)
    _write_csv(rows, labels, csv_path or submissions / "grades.csv")
    _print_table(rows, labels)
    return rows


def _write_csv(rows: list[GradeRow], labels: list[str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "status", "passed", "total", *labels, "flags", "detail"])
        for r in rows:
            writer.writerow([r.submission, r.status, r.passed, len(labels),
                             *(r.results[label] for label in labels), "; ".join(r.flags), r.detail])
    print(f"grades written to {path}")


def _print_table(rows: list[GradeRow], labels: list[str]) -> None:
    width = max([len("submission"), *(len(r.submission) for r in rows)])
    print(f"{'submission':<{width}}  {'status':<12} {'passed':>7}  " + "  ".join(labels))
    for r in rows:
        cells = "  ".join(f"{r.results[label]:<{len(label)}}" for label in labels)
        flag = "  SUSPICIOUS: " + "; ".join(r.flags) if r.flags else ""
        print(f"{r.submission:<{width}}  {r.status:<12} {r.passed:>3}/{len(labels):<3}  {cells}{flag}")


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--execute":
    _run_child(*sys.argv[2:])
