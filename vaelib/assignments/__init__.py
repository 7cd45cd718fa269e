"""Assignments from the chapters: the student version of each notebook, and grading.

    python -m vaelib.assignments student               # chapters/*.ipynb -> student/*.ipynb
    python -m vaelib.assignments grade SUBMISSIONS --chapter chapters/01_autoencoders.ipynb
"""

from .grade import GradeRow, grade_folder, reference_checks
from .student import (
    SolutionFormatError,
    StudentVersion,
    make_student_version,
    paste_back,
    write_student_versions,
)

__all__ = [
    "make_student_version", "paste_back", "write_student_versions", "StudentVersion",
    "SolutionFormatError", "grade_folder", "GradeRow", "reference_checks",
]
