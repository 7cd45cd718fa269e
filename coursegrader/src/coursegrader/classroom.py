"""GitHub Classroom: a template repository per chapter, graded by the course's grader on each push.

:func:`build_template` writes a folder to push as the assignment's template repository:

- ``NN_name.ipynb``: the student version of the chapter (solutions out, stubs in);
- ``.github/classroom/assignment.toml``: the points (:mod:`coursegrader.points`);
- ``.github/workflows/classroom.yml``: on every push, installs CPU PyTorch and the course
  packages from the course repository at the tag of this release (``v<version>``: the packages
  are pinned to the version the notebook belongs to), grades the notebook with
  ``python -m coursegrader classroom-grade`` and hands the points to GitHub Classroom;
- ``README.md``: what the student does.

How the points reach Classroom: we followed GitHub Classroom's own workflow template
("Autograding Tests", as Classroom writes it for a new assignment), in which each grading step
sets an output ``result``, the base64 of a JSON document ``{"version": 1, "status", "max_score",
"tests": [{"name", "status", "score", "message", ...}]}`` (the format of
``classroom-resources/autograding-command-grader``), and the last step,
``classroom-resources/autograding-grading-reporter@v1``, reads ``<RUNNER>_RESULTS`` for each
runner, prints the tests, and writes "Points X/Y" on the job's check run named "Autograding
Tests", which is where Classroom reads the grade. Our step writes that output itself, one test
per exercise with its points, so partial points per exercise survive.

The reference chapter is fetched by the workflow from the course repository (it is public, as
are all the course's answer keys), never committed into the student's repository.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import nbformat

__all__ = ["build_template", "grade_notebook", "runner_document", "workflow_yaml"]


def _course(repo: Path) -> tuple[str, str]:
    """The course repository's URL (``_config.yml``) and the release tag of this version."""
    config = (repo / "_config.yml").read_text(encoding="utf-8")
    m = re.search(r"^repository:\s*\n(?:\s+\w+:.*\n)*?\s+url:\s*(\S+)", config, re.M)
    version = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
    return (m.group(1) if m else ""), f"v{version}"


def workflow_yaml(stem: str, url: str, tag: str, *, timeout_minutes: int = 30) -> str:
    """The template's ``.github/workflows/classroom.yml``."""
    return f"""\
# Grades {stem}.ipynb on every push with the course's grader and reports the points to GitHub
# Classroom (through classroom-resources/autograding-grading-reporter, as Classroom's own
# template does). Written by `make classroom CHAPTER={stem}`; the course packages and the
# reference chapter come from {url} at {tag}.
name: Autograding Tests
"on":
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    name: Autograding Tests
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: {timeout_minutes}
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the course's grader ({tag}, CPU PyTorch)
        run: |
          git clone --quiet --depth 1 --branch {tag} {url} "$RUNNER_TEMP/course"
          python -m pip install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
          python -m pip install --quiet "$RUNNER_TEMP/course" "$RUNNER_TEMP/course/coursegrader"
      - name: Keep the chapter's reference run between pushes
        uses: actions/cache@v4
        with:
          path: ~/.cache/vae-coursegrader
          key: vae-coursegrader-{stem}-{tag}
      - name: Grade {stem}.ipynb
        id: notebook
        env:
          VAELIB_OFFLINE: "1"
        run: python -m coursegrader classroom-grade --notebook {stem}.ipynb --chapter "$RUNNER_TEMP/course/chapters/{stem}.ipynb" --assignment .github/classroom/assignment.toml --state ~/.cache/vae-coursegrader --github-output "$GITHUB_OUTPUT"
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          NOTEBOOK_RESULTS: "${{{{ steps.notebook.outputs.result }}}}"
        with:
          runners: notebook
"""


def build_template(chapter: Path, out: Path, *, repo: Path, assignment: Path | None = None,
                   url: str | None = None, tag: str | None = None) -> Path:
    """Write the template repository folder of one chapter (see the module's docstring).

    Args:
        chapter: the reference chapter notebook.
        out: the folder to write (created; an existing folder is replaced).
        repo: the checkout (``_config.yml`` gives the course's URL, ``pyproject.toml`` the tag).
        assignment: the chapter's points file (default: from the difficulty marks).
        url, tag: override the course repository and the tag the workflow installs from.
    """
    from .chapter import load_chapter
    from .points import assignment_toml, default_assignment, load_assignment
    from .student import make_student_version

    chapter, out = Path(chapter), Path(out)
    loaded = load_chapter(chapter)
    plan = load_assignment(assignment, loaded.labels) if assignment else default_assignment(chapter)
    course_url, course_tag = _course(Path(repo))
    url, tag = url or course_url, tag or course_tag
    shutil.rmtree(out, ignore_errors=True)
    (out / ".github" / "workflows").mkdir(parents=True)
    (out / ".github" / "classroom").mkdir()
    student = make_student_version(nbformat.read(chapter, as_version=4), chapter=loaded.stem)
    nbformat.write(student.notebook, out / chapter.name)
    (out / ".github" / "classroom" / "assignment.toml").write_text(assignment_toml(plan), encoding="utf-8")
    (out / ".github" / "workflows" / "classroom.yml").write_text(workflow_yaml(loaded.stem, url, tag))
    (out / ".gitignore").write_text(".ipynb_checkpoints/\n__pycache__/\n")
    exercises = "\n".join(f"- {e.title or e.label} (`{e.label}`), {e.points:g} point(s)" for e in plan.exercises)
    (out / "README.md").write_text(f"""# {plan.name}

Work in `{chapter.name}`: write each exercise where the notebook says `raise NotImplementedError`,
run the check cell under it, and commit and push the notebook. Every push is graded by the
course's grader (the Actions tab shows the run; its log and summary show each exercise's verdict
with a hint); GitHub Classroom records the points of the last push.

To work on your computer: `pip install "vaelib @ git+{url}@{tag}"`, then open the notebook in
Jupyter. The notebook's first cell also installs it where it is missing (Colab, Binder).

Exercises ({plan.max_points:g} points):

{exercises}
""", encoding="utf-8")
    return out


def runner_document(row, plan, seconds: float) -> dict:
    """The grading step's ``result`` as the Classroom reporter reads it (before base64)."""
    from .points import score

    points = score(row, plan)
    tests = []
    for e in plan.exercises:
        verdict = row.results.get(e.label, "not run")
        tests.append({"name": f"{e.title or e.label} ({e.label})",
                      "status": "pass" if verdict == "pass" else "error" if verdict == "error" else "fail",
                      "score": points.per_exercise[e.label], "max_score": e.points,
                      "message": row.messages.get(e.label, "") if verdict != "pass" else "",
                      "test_code": f"check of {e.label}", "filename": "", "line_no": 0,
                      "execution_time": f"{seconds:.1f}s"})
    status = "pass" if all(t["status"] == "pass" for t in tests) else (
        "error" if row.status in ("unreadable", "timeout") else "fail")
    return {"version": 1, "status": status, "max_score": plan.max_points, "tests": tests}


def grade_notebook(notebook: Path, chapter: Path, assignment: Path, *, github_output: Path | None = None,
                   summary: Path | None = None, isolation: str = "trusted", state: Path | None = None,
                   log=print) -> dict:
    """Grade one notebook (the Classroom step): the runner document, written base64-encoded as
    ``result=...`` to ``github_output``, and the feedback to ``summary`` and the log.

    ``state`` keeps the grader's folder (the fast path's reference run, under a key of the
    chapter's code and the package versions) for the next push: the workflow caches it.

    ``isolation`` is ``trusted`` by default: the workflow runs in the student's own repository,
    whose workflow the student can edit anyway, so a sandbox would protect nothing there.
    """
    from .batch import _TITLE, grade_folder
    from .chapter import load_chapter
    from .points import load_assignment
    from .report import feedback_markdown

    start = time.monotonic()
    loaded = load_chapter(chapter)
    plan = load_assignment(assignment, loaded.labels)
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        folder = Path(tmp) / "submission"
        folder.mkdir()
        shutil.copyfile(notebook, folder / Path(notebook).name)
        (row,) = grade_folder(folder, chapter, out=Path(state or Path(tmp) / "out").expanduser(), jobs=1, fast=True,
                              trusted=isolation == "trusted",
                              isolation="sandbox" if isolation == "trusted" else isolation, log=log)
    titles = {m["label"]: m["title"].strip() for c in loaded.notebook.cells if c.cell_type == "markdown"
              for m in _TITLE.finditer(c.source)}
    feedback = feedback_markdown(row, loaded.labels, titles, loaded.stem)
    document = runner_document(row, plan, time.monotonic() - start)
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    if github_output:
        with open(github_output, "a", encoding="utf-8") as f:
            f.write(f"result={encoded}\n")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(feedback + "\n")
    total = sum(t["score"] for t in document["tests"])
    log(feedback)
    log(f"Points {total:g}/{document['max_score']:g}")
    return document
