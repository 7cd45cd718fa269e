"""The course's grading package: student versions of the chapters, and grading a class.

    python -m coursegrader student                 # chapters/*.ipynb -> student/*.ipynb
    python -m coursegrader grade SUBMISSIONS --chapter chapters/01_autoencoders.ipynb --jobs 2
    python -m coursegrader solved --chapter chapters/01_autoencoders.ipynb --out folder

Grading runs every submission in a bubblewrap sandbox and decides the verdicts in the grader's
own process (:mod:`coursegrader.grade`); a class is graded side by side and resumably
(:mod:`coursegrader.batch`), with a feedback file per student (:mod:`coursegrader.report`).
Learners never install this package: the course package ``vaelib`` holds only the self-checks.
"""

from .batch import grade_folder
from .chapter import load_chapter, probe_specs, reference_checks
from .grade import GradeRow
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
    "write_solved_copies", "load_chapter",
]
