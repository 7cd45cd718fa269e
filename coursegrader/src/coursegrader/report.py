"""What grading writes: the class table (CSV), one feedback file per student, the printed table."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .grade import GradeRow

__all__ = ["write_table", "write_feedback", "print_table", "feedback_markdown", "atomic_write"]

_STATUS_TEXT = {
    "ok": "every cell ran",
    "stubs left": "some exercises still hold the stub that raises NotImplementedError",
    "errors": "a cell raised an error",
    "cell timeout": "a cell ran past the time limit and was stopped",
    "timeout": "the notebook ran past the time limit and was stopped",
    "unreadable": "the file is not a notebook the grader can read",
}


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def feedback_name(submission: str) -> str:
    return Path(submission).stem + ".md"


def write_table(rows: list[GradeRow], labels: list[str], path: Path) -> None:
    """The class table: one row per submission, one column per exercise, hints in ``feedback``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["submission", "status", "passed", "total", *labels, "feedback", "limit", "flags",
                     "detail", "mode", "path", "seconds", "cpu_seconds", "peak_mb", "feedback_file"])
    for r in rows:
        hints = "; ".join(f"{label}: {r.messages.get(label, '')}" for label in labels
                          if r.results.get(label) != "pass")
        writer.writerow([r.submission, r.status, r.passed, len(labels),
                         *(r.results.get(label, "not run") for label in labels), hints, r.limit,
                         "; ".join(r.flags), r.detail, r.mode, r.path, f"{r.seconds:.1f}",
                         f"{r.cpu_seconds:.1f}", f"{r.peak_mb:.0f}", f"feedback/{feedback_name(r.submission)}"])
    atomic_write(path, buffer.getvalue())


def feedback_markdown(row: GradeRow, labels: list[str], titles: dict[str, str], chapter: str) -> str:
    """One student's feedback: the score, each exercise's verdict and hint, the notebook's status."""
    lines = [f"# Feedback on {row.submission}", "",
             f"Chapter **{chapter}**: **{row.passed} of {len(labels)}** exercises passed.", ""]
    lines += ["| exercise | verdict | what the check says |", "|---|---|---|"]
    for label in labels:
        verdict = row.results.get(label, "not run")
        message = row.messages.get(label, "").replace("|", "\\|").replace("\n", " ")
        title = titles.get(label, "")
        name = f"{title} (`{label}`)" if title else f"`{label}`"
        lines.append(f"| {name} | {'passed' if verdict == 'pass' else verdict} | {message} |")
    lines += ["", "## Your notebook", "",
              f"- Status: **{row.status}**, {_STATUS_TEXT.get(row.status, row.status)}."]
    if row.detail:
        lines.append(f"- Details: {row.detail}")
    if row.limit:
        lines.append(f"- Stopped by the **{row.limit}** limit: make that part of your notebook "
                     "lighter (fewer steps, a smaller batch) or ask your instructor.")
    if row.path == "fast":
        lines.append("- Graded on the fast path: your exercise cells ran on the chapter's own "
                     "reference run (its trained models and data), not on your copy's earlier cells.")
    else:
        lines.append("- Graded on the full path: every cell of your notebook ran, in order.")
    failing = [label for label in labels if row.results.get(label) != "pass"]
    if failing:
        lines += ["", "## What to look at next", ""]
        lines += [f"- **{titles.get(label) or label}**: {row.messages.get(label, '')}" for label in failing]
    lines += ["", f"Graded in a {row.mode}; every verdict was decided from your answers, never from "
              "what your notebook printed.", ""]
    return "\n".join(lines)


def write_feedback(row: GradeRow, labels: list[str], titles: dict[str, str], chapter: str,
                   folder: Path) -> Path:
    path = folder / feedback_name(row.submission)
    atomic_write(path, feedback_markdown(row, labels, titles, chapter))
    return path


def print_table(rows: list[GradeRow], labels: list[str]) -> None:
    width = max([len("submission"), *(len(r.submission) for r in rows)])
    modes = sorted({r.mode for r in rows})
    print(f"graded in: {', '.join(modes) or 'nothing to grade'}")
    print(f"{'submission':<{width}}  {'status':<12} {'passed':>7}  " + "  ".join(labels))
    for r in rows:
        cells = "  ".join(f"{r.results.get(label, 'not run'):<{len(label)}}" for label in labels)
        flag = "  SUSPICIOUS: " + "; ".join(r.flags) if r.flags else ""
        flag += f"  [{r.limit} limit]" if r.limit else ""
        print(f"{r.submission:<{width}}  {r.status:<12} {r.passed:>3}/{len(labels):<3}  {cells}{flag}")
