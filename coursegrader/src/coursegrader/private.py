"""An instructor's private exercises: kept outside the public repository, graded like the rest.

A private exercise set is a folder passed to the grader (``--private FOLDER``)::

    FOLDER/
      04_vae.ipynb   cells appended to the end of chapter 04_vae: an ``{exercise}`` markdown cell
                     with a ``:label:``, a code cell tagged ``solution`` whose answer sits between
                     ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and a cell tagged ``check``
                     holding one call ``check_NAME(argument, ...)``
      probes.py      ``probe_NAME(*arguments, seed=None) -> dict``: calls the learner's functions
                     and returns plain data (see ``vaelib.checks``); runs inside the sandbox
      judges.py      ``judge_NAME(data) -> str``: the success message, or ``raise Hint(...)``;
                     runs only in the grader's process, so no submission can read it

A probe that takes ``seed`` is seeded: the grader draws fresh inputs for every submission and
passes the same seed to the judge (``data["seed"]``), exactly as for the course's own checks.
The student version of the chapter (``coursegrader student --private FOLDER``) gets the exercise
and a stub, and a note in place of the check cell: the learner sees the verdict in the feedback.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

__all__ = ["load_probes", "load_checks", "private_cells", "PrivateExerciseError"]

_CALL = re.compile(r"^\s*check_(\w+)\((.*)\)\s*$", re.S)


class PrivateExerciseError(ValueError):
    """A private exercise folder that does not follow the documented format."""


def _module(path: Path, name: str):
    if not path.is_file():
        raise PrivateExerciseError(f"{path} is missing: a private exercise folder holds probes.py "
                                   "and judges.py beside one notebook per chapter.")
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # judges.py may import helpers from probes.py
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_probes(path: str | Path) -> dict:
    """``{NAME: Check}`` for every ``probe_NAME`` in ``probes.py``; the checks have no judge.

    Used inside the sandbox, where only the probes are bound.
    """
    from vaelib.checks import Check

    module = _module(Path(path), "private_probes")
    found = {}
    for attr, value in vars(module).items():
        if attr.startswith("probe_") and callable(value):
            name = attr[len("probe_"):]
            seeded = "seed" in inspect.signature(value).parameters
            found[name] = Check(name, probe=value, judge=_no_judge, seeded=seeded)
    return found


def _no_judge(data) -> str:
    raise RuntimeError("private checks are judged by the grader, not in the sandbox")


def load_checks(folder: str | Path) -> dict:
    """``{NAME: Check}`` with probe and judge, for the grader's own process."""
    from vaelib.checks import Check

    folder = Path(folder)
    probes = load_probes(folder / "probes.py")
    judges = _module(folder / "judges.py", "private_judges")
    checks = {}
    for name, probe_only in probes.items():
        judge = getattr(judges, f"judge_{name}", None)
        if judge is None:
            raise PrivateExerciseError(f"probes.py defines probe_{name} but judges.py has no judge_{name}.")
        checks[name] = Check(name, probe=probe_only.probe, judge=judge, seeded=probe_only.seeded)
    return checks


def private_cells(folder: str | Path, chapter: str) -> list:
    """The cells a private folder adds to ``chapter`` (its file stem), or ``[]`` when none."""
    path = Path(folder) / f"{chapter}.ipynb"
    if not path.is_file():
        return []
    import nbformat  # here, not above: the sandbox's runner imports this module for load_probes,
    # and nbformat's import (its JSON-schema formats) took 3 of the 6 s a sandboxed run cost

    cells = nbformat.read(path, as_version=4).cells
    for cell in cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            if not _CALL.match(cell.source):
                raise PrivateExerciseError(f"{path}: a private check cell must be one call "
                                           f"check_NAME(argument, ...); it is {cell.source!r}.")
    return cells


def private_call(source: str) -> tuple[str, str] | None:
    """``(NAME, arguments)`` of a private check cell's ``check_NAME(arguments)``, else None."""
    m = _CALL.match(source)
    return (m.group(1), m.group(2)) if m else None
