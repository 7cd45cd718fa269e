"""A chapter as the grader reads it: its check cells, their probes, where its exercises begin,
and how each exercise is graded.

Every chapter ends with its exercises; each starts with an ``{exercise}`` cell with a
``:label:`` and ends with a check cell (tagged ``check``) that calls one registered check, e.g.
``checks.check_holes_answer(answer)``. An instructor's private exercises
(:mod:`coursegrader.private`) are appended after them, with ``check_NAME(...)`` cells.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from vaelib.checks import MultipleChoice, registry

from .private import load_checks, private_call, private_cells

__all__ = ["Chapter", "load_chapter", "is_check_cell", "reference_checks", "probe_specs",
           "exercise_start", "flags", "SUSPICIOUS", "ExercisePlan"]

EXERCISE_LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)")
# Code that reaches into the checking machinery, the process or the interpreter's import system.
# `(?<![.\w])eval` leaves `model.eval()` alone; `=(?!=)` leaves comparisons alone.
SUSPICIOUS = {
    "touches the check results": r"\bCheckResult\b|_repr_html_|\bNOT_WRITTEN\b",
    "reassigns a check": r"\bchecks\.\w+\s*=(?!=)|vaelib\.checks\.\w+\s*=(?!=)",
    "uses the checks' internals": r"\bchecks\.(?:\w+\.)*_\w+|\b(?:probe|judge|collect|decide|registry)\b\s*\(",
    "edits modules or builtins": r"\bsys\.modules\b|\bbuiltins\b|\bimportlib\b|__import__",
    "runs other programs": r"\bsubprocess\b|\bos\.system\b|\bos\.exec|\bos\.spawn|\bpty\b|\bos\.fork\b",
    "runs generated code": r"(?<![.\w])(?:exec|eval|compile)\s*\(",
    "sets grading variables": r"VAELIB_STRICT_CHECKS|\bos\.environ\[[^\]]+\]\s*=(?!=)|\bos\.environ\.(?:update|setdefault)\b",
}
_CHECK_CALL = re.compile(r"^\s*(?:checks\.(?:\w+\.)*)?check_\w+\(.*\)\s*$")


def is_check_cell(cell) -> bool:
    """A cell tagged ``check``, or one that holds nothing but calls of checks."""
    if cell.cell_type != "code":
        return False
    if "check" in cell.get("metadata", {}).get("tags", []):
        return True
    lines = [ln for ln in cell.source.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_CHECK_CALL.match(ln) for ln in lines)


def exercise_start(cells) -> int | None:
    """Index of the first ``{exercise}`` cell, or None: everything from there on is the exercises."""
    return next((i for i, c in enumerate(cells)
                 if c.cell_type == "markdown" and EXERCISE_LABEL.search(c.source)), None)


def reference_checks(reference: nbformat.NotebookNode) -> list[tuple[str, nbformat.NotebookNode]]:
    """The reference notebook's check cells, each with the label of the exercise it checks."""
    label, found = "", []
    for cell in reference.cells:
        if cell.cell_type == "markdown":
            m = EXERCISE_LABEL.search(cell.source)
            label = m.group(1) if m else label
        elif is_check_cell(cell):
            found.append((label or f"check-{len(found) + 1}", cell))
    if not found:
        raise ValueError("The reference notebook has no check cells (cells tagged 'check').")
    return found


def probe_specs(checks: list[tuple[str, nbformat.NotebookNode]], private: dict | None = None) -> list[dict]:
    """For each reference check cell, the check it calls and the source of its arguments.

    Raises:
        ValueError: a check cell that is not a single call of a registered :class:`Check` (or of
            one of the instructor's ``private`` checks).
    """
    known, private = registry(), private or {}
    specs = []
    for label, cell in checks:
        own = private_call(cell.source)
        if own is not None and own[0] in private:
            call = ast.parse(cell.source.strip(), mode="eval").body
            specs.append({"label": label, "check": own[0], "private": True,
                          "args": [ast.unparse(a) for a in call.args]})
            continue
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


def flags(nb: nbformat.NotebookNode) -> list[str]:
    """Reasons the notebook's code looks as if it reaches into grading (hints, not verdicts)."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not is_check_cell(c))
    return [reason for reason, pattern in SUSPICIOUS.items() if re.search(pattern, code)]


@dataclass
class ExercisePlan:
    """How one exercise is graded: ``kind`` and the names it takes from the chapter's run."""

    label: str
    kind: str
    uses: list[str]


@dataclass
class Chapter:
    """A reference chapter ready for grading.

    Attributes:
        path: the chapter notebook.
        notebook: the chapter, with the instructor's private exercises appended.
        specs: one probe spec per check cell (see :func:`probe_specs`).
        checks: check name -> :class:`vaelib.checks.Check`, private ones included.
        private_probes: the private folder's ``probes.py`` (bound into the sandbox), or None.
    """

    path: Path
    notebook: nbformat.NotebookNode
    specs: list[dict]
    checks: dict
    private_probes: Path | None = None

    @property
    def labels(self) -> list[str]:
        return [s["label"] for s in self.specs]

    @property
    def stem(self) -> str:
        return self.path.stem

    def check_for(self, spec: dict):
        return self.checks[spec["check"]]

    def body_cells(self) -> list[str]:
        """The code of every cell before the exercises: what the fast path runs once."""
        start = exercise_start(self.notebook.cells)
        return [c.source for c in self.notebook.cells[:start] if c.cell_type == "code"]

    def plan(self) -> list[ExercisePlan]:
        """For each exercise: graded as a letter answer, a function on fresh inputs, or an
        experiment on the chapter's run (and which of the run's names it uses).

        An exercise's code is what lies between its ``{exercise}`` cell and its check cell: a
        section of the chapter that follows the check (one that uses the learner's answer) is
        run with the exercises but belongs to none of them.
        """
        start = exercise_start(self.notebook.cells) or 0
        from_run = set()
        for cell in self.notebook.cells[:start]:
            if cell.cell_type == "code":
                from_run |= _defined(cell.source)
        sections: dict[str, list[str]] = {}
        label: str | None = ""
        for cell in self.notebook.cells[start:]:
            if cell.cell_type == "markdown" and EXERCISE_LABEL.search(cell.source):
                label = EXERCISE_LABEL.search(cell.source).group(1)
            elif is_check_cell(cell):
                label = None  # an exercise ends at its check; what follows it is no one's answer
            elif cell.cell_type == "code" and label is not None:
                sections.setdefault(label, []).append(cell.source)
        plans = []
        for spec in self.specs:
            check = self.check_for(spec)
            code = "\n".join(sections.get(spec["label"], []))
            uses = sorted((_loaded(code) - _bound(code)) & from_run)
            if isinstance(check, MultipleChoice):
                kind = "letter answer"
            elif check.seeded:
                kind = "your function on fresh inputs"
            elif uses:
                kind = "your code on the chapter's run"
            else:
                kind = "your answer on the book's inputs"
            plans.append(ExercisePlan(spec["label"], kind, uses))
        return plans


def _defined(source: str) -> set[str]:
    """Names a cell binds at its top level by assignment, ``for``, ``def`` or ``class`` (not imports)."""
    tree = _parse(source)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For)) else [])
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _loaded(source: str) -> set[str]:
    tree = _parse(source)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and not hasattr(builtins, n.id)}


def _bound(source: str) -> set[str]:
    """Every name the code binds anywhere: assignments, loop and comprehension variables,
    function parameters, definitions (an exercise's own names, not the chapter's)."""
    tree = _parse(source)
    if tree is None:
        return set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
              for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg] if a is not None}
    names |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names


def _parse(source: str) -> ast.Module | None:
    """A cell's code as a syntax tree (IPython magics blanked), or None when it does not parse."""
    try:
        return ast.parse(_without_magics(source))
    except SyntaxError:
        return None


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def load_chapter(path: str | Path, private: str | Path | None = None) -> Chapter:
    """Read a reference chapter (and the instructor's private exercises for it, if any)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a chapter notebook (e.g. chapters/04_vae.ipynb).")
    notebook = nbformat.read(path, as_version=4)
    private_checks, probes = {}, None
    if private is not None:
        private = Path(private).resolve()  # bound into sandboxes, which start elsewhere
        if not private.is_dir():
            raise ValueError(f"{private} is not a folder of private exercises (see coursegrader.private).")
        extra = private_cells(private, path.stem)
        if extra:
            private_checks, probes = load_checks(private), private / "probes.py"
            notebook.cells.extend(extra)
    specs = probe_specs(reference_checks(notebook), private_checks)
    return Chapter(path, notebook, specs, {**registry(), **private_checks}, probes)
