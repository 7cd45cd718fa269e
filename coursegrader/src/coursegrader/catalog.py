"""What each chapter teaches and asks, read from the chapters themselves.

The instructor guide is built from this at every book build, so its tables of objectives, run
times and exercises cannot drift from the notebooks they describe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["Exercise", "ChapterSummary", "summarize_chapter", "summarize_chapters", "guide_markdown"]

_EXERCISE = re.compile(
    r"```\{exercise\}\s*(?P<title>[^\n]*)\n:label:\s*(?P<label>\S+)[^`]*?"
    r"\*\*Difficulty:\*\*\s*(?P<difficulty>[★☆]+)[^`]*?\*\*Time:\*\*\s*(?P<time>[^\n]+)", re.S)


@dataclass
class Exercise:
    label: str
    title: str
    difficulty: str
    time: str


@dataclass
class ChapterSummary:
    """A chapter's title, objectives, prerequisites, stated run time and exercises."""

    path: Path
    title: str
    objectives: list[str] = field(default_factory=list)
    prerequisites: str = ""
    run_time: str = ""
    exercises: list[Exercise] = field(default_factory=list)


def _bullets_after(text: str, heading: str) -> list[str]:
    start = text.find(heading)
    if start < 0:
        return []
    items = []
    for line in text[start:].split("\n")[1:]:
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()  # a bullet continued on the next line
        elif items and not line.strip():
            break
    return items


def _sentence_after(text: str, label: str) -> str:
    m = re.search(re.escape(label) + r"\*\*\s*(.+?)(?:\n\n|$)", text, re.S)
    return " ".join(m.group(1).split()) if m else ""


def summarize_chapter(path: str | Path) -> ChapterSummary:
    """Read one chapter notebook (or MyST page) and summarise it."""
    path = Path(path)
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        text = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    title = next((line[2:].strip() for line in text.split("\n") if line.startswith("# ")), path.stem)
    summary = ChapterSummary(path, title)
    summary.objectives = _bullets_after(text, "**Learning objectives.**")
    summary.prerequisites = _sentence_after(text, "**Prerequisites.")
    summary.run_time = _sentence_after(text, "**Run time:")
    summary.exercises = [Exercise(m["label"], m["title"].strip(), m["difficulty"], m["time"].strip())
                         for m in _EXERCISE.finditer(text)]
    return summary


def summarize_chapters(folder: str | Path) -> list[ChapterSummary]:
    """Every chapter in ``folder``, in file order."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix in (".ipynb", ".md") and p.stem[:2].isdigit())
    return [summarize_chapter(p) for p in paths]


def guide_markdown(summaries: list[ChapterSummary]) -> str:
    """The per-chapter part of the instructor guide, as MyST markdown."""
    out = []
    for s in summaries:
        out.append(f"### {s.title}\n")
        if s.objectives:
            out.append("**Objectives.** " + " ".join(f"({i}) {o}" for i, o in enumerate(s.objectives, 1)) + "\n")
        if s.prerequisites:
            out.append(f"**Prerequisites.** {s.prerequisites}\n")
        if s.run_time:
            out.append(f"**Run time.** {s.run_time}\n")
        if s.exercises:
            out.append("| exercise | label | difficulty | time |\n|---|---|---|---|")
            out.extend(f"| {e.title} | `{e.label}` | {e.difficulty} | {e.time} |" for e in s.exercises)
            out.append("")
    return "\n".join(out)
