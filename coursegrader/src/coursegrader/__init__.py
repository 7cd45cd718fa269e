"""The course's grading package: student versions of the chapters, and grading a class.

    python -m coursegrader student                 # chapters/*.ipynb -> student/*.ipynb
    python -m coursegrader grade SUBMISSIONS --chapter chapters/01_autoencoders.ipynb --jobs 2
    python -m coursegrader solved --chapter chapters/01_autoencoders.ipynb --out folder

Grading runs every submission in a bubblewrap sandbox and decides the verdicts in the grader's
own process (:mod:`coursegrader.grade`); a class is graded side by side and resumably
(:mod:`coursegrader.batch`), with a feedback file per student (:mod:`coursegrader.report`).
Learners never install this package: the course package ``vaelib`` holds only the self-checks.
"""

# Names resolve on first use (PEP 562), so that `python -m coursegrader.runner`, started in every
# sandbox, imports the runner alone: the grading modules import nbformat and jsonschema, whose
# start-up would cost every submission seconds.
_EXPORTS = {
    "grade_folder": "batch", "load_chapter": "chapter", "probe_specs": "chapter",
    "reference_checks": "chapter", "GradeRow": "grade", "SolutionFormatError": "student",
    "StudentVersion": "student", "make_student_version": "student", "paste_back": "student",
    "write_solved_copies": "student", "write_student_versions": "student",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'coursegrader' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
