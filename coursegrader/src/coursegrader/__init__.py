"""Assignments from the chapters: the student version of each notebook, and grading.

    python -m vaelib.assignments student               # chapters/*.ipynb -> student/*.ipynb
    python -m vaelib.assignments grade SUBMISSIONS --chapter chapters/01_autoencoders.ipynb
    python -m vaelib.assignments solved --chapter chapters/01_autoencoders.ipynb --out folder

Grading runs every submission in a bubblewrap sandbox and decides the verdicts in the grader's
own process (see :mod:`vaelib.assignments.grade`).
"""

from .grade import GradeRow, grade_folder, probe_specs, reference_checks
from .student import (
    SolutionFormatError,
    StudentVersion,
    make_student_version,
    paste_back,
    write_solved_copies,
    write_student_versions,
)

__all__ = [
    "make_student_version", "paste_back", "write_student_versions", "StudentVersion",
    "SolutionFormatError", "grade_folder", "GradeRow", "reference_checks", "probe_specs",
    "write_solved_copies",
]
