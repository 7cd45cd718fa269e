"""Grading a class: the grader's own package, side by side and resumable, feedback per student,
the fast path, private exercises, and the learner's wheel without any of it."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from coursegrader import load_chapter, make_student_version, paste_back, write_solved_copies

from .test_assignments import reference_notebook

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "coursegrader" / "examples" / "private"
pytestmark = pytest.mark.usefixtures("bubblewrap")
MEASURED = ("seconds", "cpu_seconds", "peak_mb")  # timings differ from run to run; everything else must not


def _class(folder: Path) -> Path:
    """Five submissions of the small chapter: solved twice, stubbed, a wrong letter, broken."""
    folder.mkdir()
    reference = folder.parent / "chapter.ipynb"
    nbformat.write(reference_notebook(), reference)
    student = make_student_version(reference_notebook())
    solved = paste_back(student)
    for i in range(2):
        nbformat.write(solved, folder / f"solved_{i}.ipynb")
    nbformat.write(student.notebook, folder / "stubbed.ipynb")
    wrong = paste_back(student)
    for cell in wrong.cells:
        cell.source = cell.source.replace('answer = "b"', 'answer = "a"')
    nbformat.write(wrong, folder / "wrong_letter.ipynb")
    broken = paste_back(student)
    broken.cells.append(new_code_cell("raise RuntimeError('my own bug')"))
    nbformat.write(broken, folder / "broken.ipynb")
    return reference


def _grade(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "coursegrader", "grade", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen)


def _table(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in MEASURED} for row in csv.DictReader(f)]


def test_a_killed_run_resumes_to_the_same_table_and_feedback_names_the_hints(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    reference = _class(whole)
    shutil.copytree(whole, cut)
    done = _grade(str(whole), "--chapter", str(reference), "--jobs", "2", "--cell-timeout", "60")
    output = done.communicate(timeout=600)[0]
    assert done.returncode == 0, output
    assert "[5/5]" in output and "left" in output  # progress, with the time left

    killed = _grade(str(cut), "--chapter", str(reference), "--jobs", "2", "--cell-timeout", "60")
    rows = cut / ".grading" / "rows"
    deadline = time.monotonic() + 300
    while not (rows.is_dir() and len(list(rows.glob("*.json"))) >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)  # no goodbye: as a crash or a lost terminal
    killed.wait()
    left = list(Path(tempfile.gettempdir()).glob(f"coursegrader-{killed.pid}-*"))  # its sandboxes' folders
    kept = len(list(rows.glob("*.json")))
    assert 2 <= kept < 5, "the kill came too late to leave work for the resumed run"
    assert len(_table(cut / "grades.csv")) == kept  # the table holds every grade decided so far

    resumed = _grade(str(cut), "--chapter", str(reference), "--jobs", "2", "--cell-timeout", "60", "--resume")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert f"grading {5 - kept} submission(s)" in output and f"{kept} kept from the last run" in output
    assert not any(p.exists() for p in left), "the next grader removes what a killed one left"
    assert _table(cut / "grades.csv") == _table(whole / "grades.csv")
    by_name = {r["submission"]: r for r in _table(whole / "grades.csv")}
    assert [by_name[f"solved_{i}.ipynb"]["passed"] for i in range(2)] == ["3", "3"]
    assert by_name["stubbed.ipynb"]["passed"] == "0" and by_name["stubbed.ipynb"]["status"] == "stubs left"
    assert by_name["broken.ipynb"]["status"] == "errors" and "my own bug" in by_name["broken.ipynb"]["detail"]

    # The feedback of a failing submission names the check's hint, in the file and the table.
    hint = by_name["wrong_letter.ipynb"]["feedback"]
    assert hint.startswith("ex-holes: ") and len(hint) > 30, hint
    feedback = (whole / "feedback" / "wrong_letter.md").read_text()
    assert "**2 of 3** exercises passed" in feedback and "| Holes (`ex-holes`) | fail |" in feedback
    assert hint.removeprefix("ex-holes: ")[:40] in feedback and "What to look at next" in feedback
    assert "What to look at next" not in (whole / "feedback" / "solved_0.md").read_text()
    assert by_name["solved_0.ipynb"]["feedback"] == ""
    assert "my own bug" in (whole / "feedback" / "broken.md").read_text()

    # One student again, every other grade kept.
    again = _grade(str(cut), "--chapter", str(reference), "--only", "wrong_letter.ipynb")
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0 and "grading 1 submission(s)" in output, output
    assert _table(cut / "grades.csv") == _table(whole / "grades.csv")


def test_work_folders_of_a_killed_grader_are_removed_and_a_running_ones_kept(tmp_path, monkeypatch):
    from coursegrader.sandbox import remove_left_behind, work_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"coursegrader-{int(gone.stdout)}-submission-x1"
    (dead / "chapters" / "closed").mkdir(parents=True)
    (dead / "chapters" / "closed" / "answer.npy").write_bytes(b"0")
    os.chmod(dead / "chapters" / "closed", 0o500)  # as a submission may leave it
    mine = work_folder("submission")
    assert mine.parent == tmp_path and mine.name.startswith(f"coursegrader-{os.getpid()}-submission-")
    locks = tmp_path / "coursegrader-uids"  # not a work folder
    locks.mkdir()
    stray = tmp_path / f"coursegrader-{int(gone.stdout)}-submission-file"  # a file, not a folder
    stray.write_text("")
    assert remove_left_behind() == [dead]
    assert not dead.exists() and mine.is_dir() and locks.is_dir() and stray.is_file()


def test_bad_options_get_clear_errors(tmp_path):
    folder = tmp_path / "class"
    reference = _class(folder)
    for args, words in ((["--only", "nobody.ipynb"], "no submission called nobody.ipynb"),
                        (["--jobs", "0"], "--jobs must be at least 1")):
        run = _grade(str(folder), "--chapter", str(reference), *args)
        output = run.communicate(timeout=120)[0]
        assert run.returncode == 2 and words in output, output


def test_a_real_chapter_with_a_private_exercise_grades_alike_on_both_paths(tmp_path):
    """Chapter 2 with the worked private exercise: the solved hand-out passes everything and the
    student version nothing, on the fast path (the chapter's body run once) and the full path; a
    wrong answer to the private exercise gets its judge's hint; a submission that looks for the
    judges finds none (only probes.py enters the sandbox)."""
    chapter = ROOT / "chapters" / "02_elbo.ipynb"
    loaded = load_chapter(chapter, EXAMPLE)
    assert [s["label"] for s in loaded.specs if s.get("private")] == ["ex-private-entropy"]
    folder = tmp_path / "class"
    (solved,) = write_solved_copies(chapter, folder, 1, private=EXAMPLE)
    nb = nbformat.read(solved, as_version=4)
    assert not any("judge" in c.source for c in nb.cells), "the hand-out holds no judge"
    for cell in nb.cells:  # a learner who forgot the 1/2, and who goes looking for the answers
        if "def gaussian_entropy" in cell.source:
            cell.source = cell.source.replace("0.5 * ", "")
    nb.cells.append(new_code_cell(
        "import glob, os\nfound = glob.glob('/grade/**/judges.py', recursive=True)"
        " + glob.glob('/tmp/**/judges.py', recursive=True)\n"
        f"assert not found and not os.path.exists({str(EXAMPLE / 'judges.py')!r}), found"))
    nbformat.write(nb, folder / "wrong.ipynb")
    nbformat.write(make_student_version(nbformat.read(chapter, as_version=4)).notebook, folder / "stubs.ipynb")
    for path in ("fast", "full"):
        args = ["--full"] if path == "full" else []
        run = _grade(str(folder), "--chapter", str(chapter), "--private", str(EXAMPLE), "--jobs", "2",
                     "--out", str(tmp_path / path), *args)
        output = run.communicate(timeout=900)[0]
        assert run.returncode == 0, output
        table = {r["submission"]: r for r in _table(tmp_path / path / "grades.csv")}
        assert {r["path"] for r in table.values()} == {path}
        solved_row, wrong, stubs = table["learner_01.ipynb"], table["wrong.ipynb"], table["stubs.ipynb"]
        assert solved_row["passed"] == solved_row["total"] == str(len(loaded.specs)), (path, solved_row)
        assert solved_row["ex-private-entropy"] == "pass"
        assert stubs["passed"] == "0" and stubs["status"] == "stubs left"
        assert wrong["ex-private-entropy"] == "fail" and "half is missing" in wrong["feedback"], wrong
        assert wrong["status"] == "ok", wrong["detail"]  # the search for the judges found nothing


def test_the_learners_wheel_holds_no_grading_code(tmp_path):
    """`pip wheel .` of a checkout (coursegrader/ beside vaelib/) ships vaelib alone."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("vaelib", "coursegrader"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path / "wheel"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("vaelib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("vaelib/checks/") for n in names)  # the learner's self-checks stay
    leaked = [n for n in names if n.startswith("coursegrader") or "assignments" in n
              or n.rsplit("/", 1)[-1] in ("sandbox.py", "grade.py", "runner.py", "batch.py")]
    assert leaked == []


def test_two_graders_never_share_a_sandbox_user(tmp_path):
    """A uid is held by a lock that another grader process sees (two classes graded at once)."""
    from coursegrader.sandbox import _uid_locks, free_uid, release_uid

    uid = free_uid()
    try:
        probe = subprocess.run([sys.executable, "-c", (
            "import fcntl, os, sys\n"
            f"fd = os.open({str(_uid_locks() / str(uid))!r}, os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n"
            "    sys.exit(3)\n")], timeout=60)
        assert probe.returncode == 3, "another process could take a uid this grader holds"
    finally:
        release_uid(uid)
    assert free_uid() is not None


def test_the_sandboxed_runner_imports_nothing_it_does_not_use():
    """Every submission pays the runner's imports in a fresh sandbox: importing the package, its
    runner and the course's checks must not import nbformat (its JSON-schema formats took 3 s,
    half of a small submission's run) or the grader's own modules."""
    probe = ("import sys\n"
             "import coursegrader, coursegrader.runner, coursegrader.private\n"
             "from vaelib.checks import registry\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('nbformat', 'jsonschema')"
             " or m in ('coursegrader.grade', 'coursegrader.batch', 'coursegrader.chapter'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"the sandbox's runner imports {done.stdout.split()}"
