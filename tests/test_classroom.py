"""GitHub Classroom: the template repository, and its workflow's grading command on a solved and
a stubbed notebook, with the points it hands to Classroom's reporter."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from coursegrader import make_student_version, paste_back
from coursegrader.classroom import build_template

from .test_assignments import reference_notebook

ROOT = Path(__file__).resolve().parent.parent


def _steps(template: Path) -> tuple[dict, dict[str, dict]]:
    workflow = yaml.safe_load((template / ".github" / "workflows" / "classroom.yml").read_text())
    (job,) = workflow["jobs"].values()
    return job, {s.get("id", s["name"]): s for s in job["steps"]}


def test_the_chapter_1_template_holds_the_student_version_and_the_workflow(tmp_path):
    template = build_template(ROOT / "chapters" / "01_autoencoders.ipynb", tmp_path / "t", repo=ROOT)
    notebook = (template / "01_autoencoders.ipynb").read_text()
    assert "BEGIN SOLUTION" not in notebook and "NotImplementedError" in notebook
    assert not list(template.rglob("chapters"))  # the reference chapter is fetched, not committed
    job, steps = _steps(template)
    assert job["name"] == "Autograding Tests"  # the check run the reporter writes the points on
    install = next(s for s in steps.values() if s["name"].startswith("Install"))["run"]
    assert "--branch v0.1.0 https://github.com/vae-course/vae-course" in install
    assert "download.pytorch.org/whl/cpu" in install
    assert "classroom-grade" in steps["notebook"]["run"]
    cache = next(s for s in steps.values() if s.get("uses", "").startswith("actions/cache@"))
    assert "--state " + cache["with"]["path"] in steps["notebook"]["run"]  # kept between pushes
    reporter = steps["Autograding Reporter"]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    assert reporter["with"]["runners"] == "notebook"
    assert reporter["env"]["NOTEBOOK_RESULTS"] == "${{ steps.notebook.outputs.result }}"
    assert "ex-ae-latent-size" in (template / ".github" / "classroom" / "assignment.toml").read_text()


def _grade_with_the_workflow(template: Path, runner_temp: Path, notebook) -> tuple[dict, str, str]:
    """The workflow's own grading command, run as the Actions runner would run it."""
    nbformat.write(notebook, template / "01_tiny.ipynb")
    output, summary = runner_temp / "output.txt", runner_temp / "summary.md"
    for f in (output, summary):
        f.unlink(missing_ok=True)
    _, steps = _steps(template)
    env = {**os.environ, "HOME": str(runner_temp.parent / "home"), "RUNNER_TEMP": str(runner_temp),
           "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), **steps["notebook"].get("env", {}),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", steps["notebook"]["run"]], cwd=template, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = output.read_text().splitlines()
    assert line.startswith("result=")
    return json.loads(base64.b64decode(line.removeprefix("result="))), summary.read_text(), done.stdout


def test_the_workflow_reports_the_points_classroom_reads(tmp_path):
    chapter = tmp_path / "runner" / "course" / "chapters" / "01_tiny.ipynb"
    chapter.parent.mkdir(parents=True)
    nbformat.write(reference_notebook(), chapter)
    template = build_template(chapter, tmp_path / "template", repo=ROOT, url="https://example.org/course",
                              tag="v0.1.0")
    student = make_student_version(reference_notebook())

    solved, feedback, log = _grade_with_the_workflow(template, tmp_path / "runner", paste_back(student))
    assert solved["version"] == 1 and solved["status"] == "pass" and solved["max_score"] == 3
    assert [t["name"] for t in solved["tests"]] == ["Holes (ex-holes)", "Loss (ex-loss)", "Size (ex-size)"]
    assert [(t["status"], t["score"]) for t in solved["tests"]] == [("pass", 1)] * 3
    assert "**3 of 3** exercises passed" in feedback
    assert "running the reference" in log

    assert list((tmp_path / "home" / ".cache" / "vae-coursegrader" / ".grading" / "snapshots").iterdir())
    stubbed, feedback, log = _grade_with_the_workflow(template, tmp_path / "runner", student.notebook)
    assert stubbed["status"] == "fail" and sum(t["score"] for t in stubbed["tests"]) == 0
    assert all(t["message"] for t in stubbed["tests"]) and "What to look at next" in feedback
    assert "running the reference" not in log  # the first push's reference run, from the cache
