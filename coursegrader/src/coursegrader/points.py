"""Assignments with points: which exercises of a chapter count, and for how much.

An assignment is a small TOML file the instructor owns (one per chapter, e.g.
``assignments/01_autoencoders.toml``), written once with defaults by
``python -m coursegrader assignment --chapter chapters/01_autoencoders.ipynb`` and then edited by
hand::

    chapter = "01_autoencoders"
    name = "01 Autoencoders"          # the column's name in the gradebook exports

    [[exercise]]
    label = "ex-ae-holes"             # the exercise's :label: in the chapter
    title = "Why the holes?"
    difficulty = "★☆☆"
    points = 1
    partial = 0.0                     # fraction of the points for an answer that ran but failed

The default points follow the exercise's difficulty mark (★☆☆ 1, ★★☆ 2, ★★★ 3). Deleting an
exercise's block leaves it out of the assignment (it is still graded and still in the feedback,
but it carries no points). ``partial`` is the only partial credit: a check either passes or not,
so the grader has nothing finer to give; a ``fail`` (the answer ran and was wrong) may earn that
fraction, an ``error`` or ``not run`` earns nothing.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import _EXERCISE
from .chapter import load_chapter
from .grade import GradeRow

__all__ = ["ExercisePoints", "Assignment", "default_assignment", "write_assignment",
           "load_assignment", "score", "Score", "DEFAULT_POINTS", "AssignmentError"]

DEFAULT_POINTS = {"★☆☆": 1, "★★☆": 2, "★★★": 3}


class AssignmentError(ValueError):
    """An assignment file that is malformed or does not match its chapter."""


@dataclass
class ExercisePoints:
    """One exercise of an assignment.

    Attributes:
        label: the exercise's label in the chapter (the grader's column).
        title: its title, for people.
        difficulty: its difficulty mark (★☆☆, ★★☆, ★★★), or ``""``.
        points: points for a passed check.
        partial: fraction of ``points`` for a check that ran and failed (0 to 1).
    """

    label: str
    title: str = ""
    difficulty: str = ""
    points: float = 1.0
    partial: float = 0.0

    def earned(self, verdict: str) -> float:
        """Points for a verdict (``pass``, ``fail``, ``error``, ``not run``)."""
        if verdict == "pass":
            return self.points
        return self.points * self.partial if verdict == "fail" else 0.0


@dataclass
class Assignment:
    """The exercises of one chapter that count, with their points.

    Attributes:
        chapter: the chapter's file stem, e.g. ``01_autoencoders``.
        name: the assignment's name in gradebooks.
        exercises: the exercises that carry points, in the chapter's order.
    """

    chapter: str
    name: str
    exercises: list[ExercisePoints] = field(default_factory=list)

    @property
    def max_points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.exercises]


@dataclass
class Score:
    """A submission's points: ``per_exercise`` label -> points, and their ``total``."""

    total: float
    max_points: float
    per_exercise: dict[str, float]


def _titles_and_marks(notebook) -> dict[str, tuple[str, str]]:
    text = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    found = {m["label"]: (m["title"].strip(), m["difficulty"]) for m in _EXERCISE.finditer(text)}
    for m in re.finditer(r"```\{exercise\}\s*(?P<title>[^\n]*)\n:label:\s*(?P<label>\S+)", text):
        found.setdefault(m["label"], (m["title"].strip(), ""))  # an exercise without a mark
    return found


def default_assignment(chapter: str | Path, private: str | Path | None = None) -> Assignment:
    """Every gradable exercise of a chapter, with points from its difficulty mark."""
    loaded = load_chapter(chapter, private)
    marks = _titles_and_marks(loaded.notebook)
    heading = next((line[2:].strip() for c in loaded.notebook.cells if c.cell_type == "markdown"
                    for line in c.source.split("\n") if line.startswith("# ")), "")
    if not heading:
        name = loaded.stem
    else:  # "Chapter 1: Autoencoders" as it is; a heading without its number gets the file's
        name = heading if re.match(r"(?i)chapter\s+\d", heading) else f"{loaded.stem[:2]} {heading}"
    exercises = []
    for label in loaded.labels:
        title, difficulty = marks.get(label, ("", ""))
        exercises.append(ExercisePoints(label, title, difficulty, DEFAULT_POINTS.get(difficulty, 1)))
    return Assignment(loaded.stem, name, exercises)


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def assignment_toml(assignment: Assignment) -> str:
    """The assignment as the commented TOML file the instructor edits."""
    lines = [f"# Points for chapter {assignment.chapter}. Edit freely: change `points`, give partial",
             "# credit with `partial` (the fraction of the points for an answer that ran but failed its",
             "# check), or delete an exercise's block to leave it out of the assignment.",
             f"chapter = {_toml_string(assignment.chapter)}",
             f"name = {_toml_string(assignment.name)}   # the column's name in gradebook exports", ""]
    for e in assignment.exercises:
        lines += ["[[exercise]]", f"label = {_toml_string(e.label)}", f"title = {_toml_string(e.title)}",
                  f"difficulty = {_toml_string(e.difficulty)}", f"points = {_number(e.points)}",
                  f"partial = {_number(e.partial)}", ""]
    return "\n".join(lines)


def write_assignment(assignment: Assignment, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``assignment`` to ``path`` (TOML); an existing file is kept unless ``overwrite``.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is false (it may hold your edits).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (it may hold your edits); pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(assignment_toml(assignment), encoding="utf-8")
    return path


def load_assignment(path: str | Path, labels: list[str] | None = None) -> Assignment:
    """Read an assignment file; with ``labels`` (the chapter's), check that every exercise exists.

    Raises:
        AssignmentError: unreadable TOML, a missing field, negative points, a ``partial`` outside
            [0, 1], a label twice, or a label the chapter does not have.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise AssignmentError(f"{path}: {err}") from None
    if not isinstance(data.get("chapter"), str):
        raise AssignmentError(f"{path}: needs `chapter = \"NN_name\"`")
    exercises, seen = [], set()
    for i, item in enumerate(data.get("exercise", []), 1):
        if not isinstance(item, dict) or not isinstance(item.get("label"), str):
            raise AssignmentError(f"{path}: exercise {i} needs a `label`")
        try:
            e = ExercisePoints(item["label"], str(item.get("title", "")), str(item.get("difficulty", "")),
                               float(item.get("points", 1)), float(item.get("partial", 0)))
        except (TypeError, ValueError):
            raise AssignmentError(f"{path}: exercise {item['label']}: points and partial are numbers") from None
        if e.points < 0 or not 0 <= e.partial <= 1:
            raise AssignmentError(f"{path}: exercise {e.label}: points must be >= 0 and partial in [0, 1]")
        if e.label in seen:
            raise AssignmentError(f"{path}: exercise {e.label} appears twice")
        seen.add(e.label)
        exercises.append(e)
    if labels is not None:
        unknown = [e.label for e in exercises if e.label not in labels]
        if unknown:
            raise AssignmentError(f"{path}: {', '.join(unknown)} is not an exercise of {data['chapter']} "
                                  f"(its exercises: {', '.join(labels)})")
    return Assignment(data["chapter"], str(data.get("name", data["chapter"])), exercises)


def score(row: GradeRow, assignment: Assignment) -> Score:
    """The points a graded submission earns in ``assignment`` (exercises it lacks earn 0)."""
    per = {e.label: round(e.earned(row.results.get(e.label, "not run")), 4) for e in assignment.exercises}
    return Score(round(sum(per.values()), 4), assignment.max_points, per)

