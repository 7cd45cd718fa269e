"""Turn a chapter into its student version: solutions out, stubs in, checks kept.

The chapters mark each exercise the same way (see the instructor guide): a ``{exercise}`` cell,
a ``{solution-start}`` cell, solution code cells tagged ``solution`` whose answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, explanatory prose closed by ``{solution-end}``,
and a check cell tagged ``check``. The student version

- replaces each marked region by a stub: inside a function, ``raise NotImplementedError(...)``
  saying what to write; at the top level, the names the region defines set to
  ``NotImplemented`` (so the check reports "not written yet") followed by the same ``raise``;
- drops the solution-start and solution-end cells and the prose between them;
- keeps everything else, checks included, and stores no outputs.

The module is a small generator rather than nbgrader or otter-grader: both expect their own
notebook layout and metadata (otter: raw cells with assignment and question configuration;
nbgrader: a course database and its own cell metadata), which would have to be added to every
chapter beside the sphinx-exercise directives the book renders. Here the book's own markup is
the single source, and :func:`paste_back` proves that no solution was lost or left behind.
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["StudentVersion", "make_student_version", "paste_back", "write_student_versions",
           "write_solved_copies", "SolutionFormatError"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_EXERCISE = re.compile(r"```\{exercise\}\s*(?P<title>[^\n]*)\n(?::label:\s*(?P<label>\S+))?")
_SOLUTION_START = re.compile(r"```\{solution-start\}\s*(?P<label>\S+)")
_SOLUTION_END = "```{solution-end}"


class SolutionFormatError(ValueError):
    """A chapter's exercise markup does not follow the course format."""


@dataclass
class StudentVersion:
    """A student notebook and what was taken out of it.

    Attributes:
        notebook: the student notebook.
        solutions: the removed regions, in order: ``(cell index in the student notebook, stub
            text, original text)``; :func:`paste_back` uses them.
        exercises: the exercise labels, in order.
    """

    notebook: nbformat.NotebookNode
    solutions: list[tuple[int, str, str]] = field(default_factory=list)
    exercises: list[str] = field(default_factory=list)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _assigned_names(code: str) -> list[str]:
    """Top-level names a piece of code assigns (``x = ...``, ``x: T = ...``, ``x += ...``)."""
    names: list[str] = []
    for node in ast.parse(code).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in names:
                    names.append(sub.id)
    return names


def _enclosing_function(lines: list[str], index: int) -> str | None:
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        stripped = line.lstrip()
        if stripped.startswith("def ") and len(line) - len(stripped) < indent:
            return stripped[4:].split("(")[0]
    return None


def _stub_regions(source: str, title: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace every marked region of one cell; returns (new source, [(stub, original)])."""
    lines = source.split("\n")
    out: list[str] = []
    regions: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != BEGIN:
            out.append(lines[i])
            i += 1
            continue
        try:
            j = next(k for k in range(i + 1, len(lines)) if lines[k].strip() == END)
        except StopIteration:
            raise SolutionFormatError(f"'{BEGIN}' without '{END}' in exercise '{title}'.") from None
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        original = "\n".join(lines[i:j + 1])
        body = textwrap.dedent("\n".join(lines[i + 1:j]))
        function = _enclosing_function(lines, i)
        if function is not None:
            stub = (f'{indent}raise NotImplementedError("Exercise \'{title}\': write the body of '
                    f'{function}() as the exercise asks, then run the check below.")')
        else:
            names = _assigned_names(body)
            if names:  # the check reads these: define them, so it can say "not written yet"
                listed = ", ".join(f"`{n}`" for n in names)
                stub = "\n".join([
                    f"{indent}{' = '.join(names)} = NotImplemented  # your answer goes here",
                    f'{indent}raise NotImplementedError("Exercise \'{title}\': set {listed} as the '
                    f'exercise asks (replace this line), then run the check below.")',
                ])
            else:  # an experiment or a demonstration: nothing for a check to read
                stub = (f'{indent}raise NotImplementedError("Exercise \'{title}\': write this part '
                        f'as the exercise asks (replace this line).")')
        out.append(stub)
        regions.append((stub, original))
        i = j + 1
    return "\n".join(out), regions


def make_student_version(notebook: nbformat.NotebookNode, *, chapter: str = "") -> StudentVersion:
    """Build the student version of one chapter notebook (see the module docstring).

    Raises:
        SolutionFormatError: a solution cell without markers, a solution block that is never
            closed, markers outside a solution cell, or solution code left in the result.
    """
    student = StudentVersion(nbformat.v4.new_notebook(metadata=copy.deepcopy(notebook.metadata)))
    title, in_solution = "", False
    header = nbformat.v4.new_markdown_cell(
        f"**Student version{' of ' + chapter if chapter else ''}.** The exercises' solutions are "
        "replaced by stubs that raise `NotImplementedError`: write your answer in their place and "
        "run the check cell that follows each one.")
    student.notebook.cells.append(header)
    for cell in notebook.cells:
        cell = copy.deepcopy(cell)
        source = cell.source
        if cell.cell_type == "markdown":
            found = _EXERCISE.search(source)
            if found:
                title = found.group("title").strip() or (found.group("label") or "exercise")
                student.exercises.append(found.group("label") or title)
            if _SOLUTION_START.search(source):
                in_solution = True
            if in_solution:
                if _SOLUTION_END in source:
                    in_solution = False
                continue  # solution prose (and the directives around it) is not handed out
            student.notebook.cells.append(cell)
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "solution" in _tags(cell):
                if BEGIN not in source:
                    raise SolutionFormatError(f"A solution cell of '{title}' has no '{BEGIN}' marker.")
                cell.source, regions = _stub_regions(source, title)
                for stub, original in regions:
                    student.solutions.append((len(student.notebook.cells), stub, original))
            elif BEGIN in source or END in source:
                raise SolutionFormatError(f"Solution markers outside a cell tagged 'solution' near '{title}'.")
            elif in_solution:
                raise SolutionFormatError(f"An untagged code cell inside the solution of '{title}'.")
        student.notebook.cells.append(cell)
    if in_solution:
        raise SolutionFormatError(f"The solution of '{title}' is never closed with {_SOLUTION_END}.")
    _assert_no_solution_left(student)
    return student


def _assert_no_solution_left(student: StudentVersion) -> None:
    text = "\n".join(c.source for c in student.notebook.cells)
    if BEGIN in text or END in text:
        raise SolutionFormatError("A solution marker survived in the student version.")
    for index, _, original in student.solutions:
        stubbed = student.notebook.cells[index].source.split("\n")
        for line in original.split("\n")[1:-1]:
            if line.strip() and not line.strip().startswith("#") and line in stubbed:
                raise SolutionFormatError(f"Solution code survived in the student version: {line!r}")


def paste_back(student: StudentVersion) -> nbformat.NotebookNode:
    """Put the reference solutions back into the stubs (what a perfect learner would write)."""
    nb = copy.deepcopy(student.notebook)
    for index, stub, original in student.solutions:
        cell = nb.cells[index]
        if stub not in cell.source:
            raise SolutionFormatError(f"Stub not found in cell {index}; was the notebook edited?")
        cell.source = cell.source.replace(stub, original, 1)
    return nb


_PRIVATE_NOTE = ("*Your instructor grades this exercise when you hand in the notebook; its verdict "
                 "and hint come with your feedback.*")


def _with_private(path: Path, private: Path | None) -> nbformat.NotebookNode:
    """The chapter with an instructor's private exercises appended, their check cells replaced
    by a note (their judges are not handed out)."""
    nb = nbformat.read(path, as_version=4)
    if private is None:
        return nb
    from .private import private_cells

    for cell in private_cells(private, path.stem):
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            cell = nbformat.v4.new_markdown_cell(_PRIVATE_NOTE)
        nb.cells.append(cell)
    return nb


def write_student_versions(chapters: Path, out: Path, private: Path | None = None) -> list[Path]:
    """Write the student version of every chapter notebook in ``chapters`` to ``out`` (with the
    instructor's ``private`` exercises, if given)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(chapters).glob("*.ipynb")):
        version = make_student_version(_with_private(path, private), chapter=path.stem)
        target = out / path.name
        nbformat.write(version.notebook, target)
        written.append(target)
        print(f"{target}: {len(version.exercises)} exercises, {len(version.solutions)} stubs")
    return written


def write_solved_copies(chapter: Path, out: Path, copies: int, private: Path | None = None) -> list[Path]:
    """Write ``copies`` submissions that are the student version with every solution pasted back.

    What a class of perfect learners would hand in: a dry run of grading, and its timing.
    """
    out.mkdir(parents=True, exist_ok=True)
    solved = paste_back(make_student_version(_with_private(Path(chapter), private), chapter=Path(chapter).stem))
    written = [out / f"learner_{i:02d}.ipynb" for i in range(1, copies + 1)]
    for path in written:
        nbformat.write(solved, path)
    print(f"{out}: {copies} solved copies of {Path(chapter).stem}")
    return written
