"""Gradebook exports: the class's points as CSV files that Canvas and Moodle import.

From a graded folder (its ``grades.csv``), an assignment file (:mod:`coursegrader.points`) and a
roster (:mod:`coursegrader.roster`), :func:`export` writes one of

- ``canvas``: the layout of Canvas's gradebook CSV (Canvas guide "How do I import grades in the
  Gradebook?"): ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
  assignment, headed by its name, and a second row ``Points Possible`` as Canvas's own export
  writes it. Canvas matches a row to a student by ``ID`` (Canvas's user id) or, where that is
  empty, by ``SIS User ID`` or ``SIS Login ID``. With ``per_exercise`` each exercise gets a
  column (and becomes an assignment of its own in Canvas). Canvas reads every further column as
  an assignment, so the feedback file is not in this file: it is in the long table.
- ``moodle``: for Moodle's "Import grades from CSV": an identifier column Moodle can map to a user
  field (``Email address``; ``ID number`` as a second choice), the total and each exercise's
  points as grade columns, and a ``Feedback`` column (map it to "Feedback for" the grade item)
  naming the student's feedback file with the hints of the failed checks.
- ``long``: one row per student and exercise: verdict, points, maximum, the check's hint and the
  feedback file, for your own records or a spreadsheet.

Students of the roster without a submission get an empty score (import leaves their grade as it
was) unless ``missing_zero``; submitted files that match no student are listed, not exported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .grade import GradeRow
from .points import Assignment, score
from .report import atomic_write, feedback_name
from .roster import Matching, Student, match_submissions

__all__ = ["read_grades", "export", "FORMATS", "Export"]

FORMATS = ("canvas", "moodle", "long")
_FIXED_BEFORE = ["submission", "status", "passed", "total"]
_FIXED_AFTER = ["feedback", "limit", "flags", "detail", "mode", "path", "seconds", "peak_mb", "feedback_file"]


def read_grades(path: str | Path) -> list[GradeRow]:
    """The rows of a ``grades.csv``, with each exercise's message.

    The grader's kept rows (``.grading/rows/NAME.json`` beside the table) are used where they
    exist, as they hold every message whole; otherwise the table's ``feedback`` column is split.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        headers = reader.fieldnames or []
        labels = headers[len(_FIXED_BEFORE):headers.index("feedback")] if "feedback" in headers else []
        table = list(reader)
    rows = []
    for r in table:
        kept = path.parent / ".grading" / "rows" / f"{r['submission']}.json"
        if kept.is_file():
            rows.append(GradeRow.from_json(json.loads(kept.read_text())["row"]))
            continue
        messages = {}
        if labels and r.get("feedback"):
            pattern = "(?:^|; )(" + "|".join(re.escape(x) for x in labels) + "): "
            parts = re.split(pattern, r["feedback"])
            messages = dict(zip(parts[1::2], parts[2::2], strict=False))
        rows.append(GradeRow(r["submission"], status=r.get("status", ""),
                             results={x: r.get(x, "not run") for x in labels}, messages=messages,
                             detail=r.get("detail", ""), limit=r.get("limit", ""), mode=r.get("mode", ""),
                             path=r.get("path", "")))
    return rows


@dataclass
class Export:
    """What :func:`export` wrote: the file, the rows, and the files and students it could not pair."""

    path: Path
    rows: int
    matching: Matching
    notes: list[str] = field(default_factory=list)


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def export(grades: str | Path, assignment: Assignment, students: list[Student], fmt: str,
           out: str | Path, *, per_exercise: bool = False, missing_zero: bool = False,
           feedback_dir: str = "feedback") -> Export:
    """Write the gradebook file ``out`` in format ``fmt`` (``canvas``, ``moodle`` or ``long``).

    Args:
        grades: the ``grades.csv`` of a graded folder.
        assignment: which exercises count and their points.
        students: the roster.
        fmt: one of :data:`FORMATS`.
        out: the CSV file to write.
        per_exercise: Canvas only: a column per exercise besides the total (Moodle always has them).
        missing_zero: give students without a submission 0 instead of an empty cell.
        feedback_dir: how the files refer to the feedback folder (relative to the grades folder).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = {r.submission: r for r in read_grades(grades)}
    matching = match_submissions(students, sorted(rows))
    graded = {s.id: (name, rows[name]) for name, s in matching.by_submission.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    title = assignment.name
    exercises = assignment.exercises
    empty = "0" if missing_zero else ""
    count = 0
    if fmt == "canvas":
        extra = [f"{title}: {e.label}" for e in exercises] if per_exercise else []
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title, *extra])
        writer.writerow(["    Points Possible", "", "", "", "", _points(assignment.max_points),
                         *(_points(e.points) for e in exercises if per_exercise)])
    elif fmt == "moodle":
        writer.writerow(["Email address", "ID number", "Full name", title,
                         *(f"{title}: {e.label}" for e in exercises), "Feedback"])
    else:
        writer.writerow(["student_id", "name", "email", "submission", "status", "exercise", "title",
                         "verdict", "points", "max_points", "hint", "feedback_file"])
    for s in students:
        name, row = graded.get(s.id, ("", None))
        result = score(row, assignment) if row else None
        total = _points(result.total) if result else empty
        each = [_points(result.per_exercise[e.label]) if result else empty for e in exercises]
        feedback = f"{feedback_dir}/{feedback_name(name)}" if row else ""
        if fmt == "canvas":
            writer.writerow([s.name, s.canvas_id, s.id, s.sis_login_id, s.section, total,
                             *(each if per_exercise else [])])
        elif fmt == "moodle":
            hints = "; ".join(f"{e.title or e.label}: {row.messages.get(e.label, '')}" for e in exercises
                              if row and row.results.get(e.label) != "pass")
            text = (f"{total} of {_points(assignment.max_points)} points. Feedback: {feedback}"
                    + (f". To look at: {hints}" if hints else "")) if row else "no submission"
            writer.writerow([s.email, s.id, s.name, total, *each, text])
        else:
            for e, points in zip(exercises, each, strict=True):
                verdict = row.results.get(e.label, "not run") if row else "no submission"
                hint = row.messages.get(e.label, "") if row and verdict != "pass" else ""
                writer.writerow([s.id, s.name, s.email, name, row.status if row else "", e.label, e.title,
                                 verdict, points, _points(e.points), hint, feedback])
        count += 1
    atomic_write(Path(out), buffer.getvalue())
    notes = [f"{name}: {why}" for name, why in sorted(matching.unmatched.items())]
    notes += [f"no submission from {s.id} ({s.name or s.email})" for s in matching.missing]
    return Export(Path(out), count, matching, notes)
