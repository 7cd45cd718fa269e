"""The Gradescope autograder: the zip's layout, then setup.sh and run_autograder in an
``/autograder``-like folder, on solved, stubbed, broken and hostile submissions.

``setup.sh`` runs in its test mode: the environment it builds layers on this checkout's
``.venv`` (``VAE_AUTOGRADER_BASE_SITE``) and installs only the two course wheels built from the
checkout, instead of downloading PyTorch; everything after that is the container's path. The
chapter graded is the small chapter of ``test_assignments`` with the worked private exercise
appended (so a hostile submission has judges to look for), saved as ``02_elbo.ipynb``; the real
chapters run end to end under ``make gradescope-test`` (``VAE_GRADESCOPE_CHAPTERS``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from coursegrader import make_student_version, paste_back
from coursegrader.gradescope import build_autograder, build_wheels, chapter_needs, needs_text, run
from coursegrader.points import default_assignment, load_assignment
from coursegrader.student import _with_private, write_solved_copies

from .test_assignments import reference_notebook

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "coursegrader" / "examples" / "private"
LABELS = ["ex-holes", "ex-loss", "ex-size", "ex-private-entropy"]
# One xdist worker runs this file: the wheels are built once for its tests.
pytestmark = [pytest.mark.usefixtures("bubblewrap"), pytest.mark.xdist_group("gradescope")]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory) -> list[Path]:
    return build_wheels(ROOT, tmp_path_factory.mktemp("wheels"))


def _python() -> str:
    """A Python >= 3.11 whose installation another user can reach (the uid mode runs the
    submission as one): the one behind this environment unless it lives in a private home."""
    base = Path(sys._base_executable).resolve()
    if all(os.stat(p).st_mode & 0o005 == 0o005 for p in base.parents):
        return str(base)
    for candidate in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(candidate, path="/usr/local/bin:/usr/bin")
        if found:
            return found
    pytest.fail("no Python >= 3.11 outside a private folder for the autograder's environment")


def _unzip(archive: Path, root: Path) -> None:
    """As Gradescope does: the zip's files in ROOT/source, with their modes."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = Path(z.extract(info, root / "source"))
            mode = info.external_attr >> 16
            if mode:
                path.chmod(mode & 0o777)


def _autograder_root() -> Path:
    # Not under pytest's tmp_path (0700): the submission's own user must reach the environment.
    root = Path(tempfile.mkdtemp(prefix="autograder-", dir="/tmp"))
    root.chmod(0o755)
    return root


def _setup(archive: Path, root: Path, isolation: str) -> dict:
    _unzip(archive, root)
    env = {**os.environ, "VAE_AUTOGRADER_ROOT": str(root), "VAE_AUTOGRADER_PYTHON": _python(),
           "VAE_AUTOGRADER_BASE_SITE": sysconfig.get_paths()["purelib"],
           "VAE_AUTOGRADER_ISOLATION": isolation}
    start = time.monotonic()
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    print(f"setup.sh: {time.monotonic() - start:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "autograder ready" in done.stdout
    return env


def _run_autograder(root: Path, env: dict, notebook: nbformat.NotebookNode | None) -> dict:
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    (root / "submission").mkdir()
    if notebook is not None:
        nbformat.write(notebook, root / "submission" / "my_work.ipynb")
    start = time.monotonic()
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((root / "results" / "results.json").read_text())
    document["_wall"] = time.monotonic() - start
    # setup.sh ran the reference chapter up to its exercises; a submission reuses that state
    assert "running the reference" not in done.stdout, done.stdout
    return document


def _valid(document: dict, points: dict[str, float]) -> None:
    """The fields Gradescope reads, with their types."""
    assert isinstance(document["score"], (int, float)) and isinstance(document["execution_time"], (int, float))
    assert isinstance(document["output"], str) and document["output"]
    assert [t["name"].rsplit("(", 1)[1].rstrip(")") for t in document["tests"]] == list(points)
    for test in document["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility", "status"}
        label = test["name"].rsplit("(", 1)[1].rstrip(")")
        assert test["max_score"] == points[label] and 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] == "visible" and test["status"] in ("passed", "failed")
    assert document["score"] == pytest.approx(sum(t["score"] for t in document["tests"]))


def _scores(document: dict) -> dict[str, float]:
    return {t["name"].rsplit("(", 1)[1].rstrip(")"): t["score"] for t in document["tests"]}


def test_the_chapter_1_zip_has_gradescopes_layout(tmp_path, wheels):
    chapter = ROOT / "chapters" / "01_autoencoders.ipynb"
    archive = build_autograder(chapter, tmp_path / "01_autoencoders-gradescope.zip", repo=ROOT, wheels=wheels)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        config = json.loads(z.read("config.json"))
        plan = z.read("assignment.toml").decode()
    assert {"setup.sh", "run_autograder", "chapter/01_autoencoders.ipynb", "assignment.toml",
            "config.json", "README.txt"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert sorted(n.split("-")[0] for n in names if n.startswith("wheels/")) == [
        "wheels/vae_coursegrader", "wheels/vaelib"]
    assert config["chapter"] == "01_autoencoders" and config["torch_index"].endswith("/whl/cpu")
    assert "ex-ae-latent-size" in plan and "points = 2" in plan
    measured = (ROOT / "bench" / "results" / "grading_time.json").is_file()
    assert (config["needs"] is not None) == measured or config["needs"] is None


def test_the_zip_states_what_a_chapter_needs_from_the_measured_times(tmp_path):
    timing = tmp_path / "bench" / "results" / "grading_time.json"
    timing.parent.mkdir(parents=True)
    timing.write_text(json.dumps({"chapters": {"04_vae:fast": {
        "seconds_mean": 40.0, "seconds_max": 200.0, "peak_mb_max": 1500.0, "reference_seconds": 170.0,
        "reference_peak_mb": 1700.0, "copies": 4, "path": "fast"}}}))
    needs = chapter_needs(tmp_path, "04_vae")
    text = needs_text("04_vae", needs)
    assert "40 s on average (slowest 200 s)" in text and "at least 2.2 GB" in text
    assert "at least 10 min" in text and "--timeout 600" in text
    assert chapter_needs(tmp_path, "01_autoencoders") is None
    assert "not measured yet" in needs_text("01_autoencoders", None)


def test_the_autograder_grades_each_submission_into_results_json(tmp_path, wheels):
    """Solved: full marks; stubbed: zero; broken and hostile: the honest grade; the hostile one
    neither reads the source (reference solutions, judges) nor writes the results. In the uid
    mode, which Gradescope's container (no user namespaces) gets."""
    chapter = tmp_path / "chapter" / "02_elbo.ipynb"
    chapter.parent.mkdir()
    nbformat.write(reference_notebook(), chapter)
    archive = build_autograder(chapter, tmp_path / "02_elbo-gradescope.zip", repo=ROOT, wheels=wheels,
                               private=EXAMPLE)
    points = {e.label: e.points for e in default_assignment(chapter, EXAMPLE).exercises}
    assert list(points) == LABELS
    root = _autograder_root()
    try:
        env = _setup(archive, root, "uid")
        assert load_assignment(root / "source" / "assignment.toml").labels == LABELS
        assert (root / "source").stat().st_mode & 0o077 == 0  # root's alone
        student = make_student_version(_with_private(chapter, EXAMPLE))
        solved = paste_back(student)

        full = _run_autograder(root, env, solved)
        _valid(full, points)
        assert full["score"] == sum(points.values()) and all(t["status"] == "passed" for t in full["tests"])
        assert "process of its own user (no bwrap)" in full["output"] and "Graded on the fast path" in full["output"]

        stubbed = _run_autograder(root, env, student.notebook)
        _valid(stubbed, points)
        assert stubbed["score"] == 0 and "stubs left" in stubbed["output"]
        assert all(t["status"] == "failed" and t["output"] for t in stubbed["tests"])

        broken = paste_back(student)
        broken.cells.append(new_code_cell("raise RuntimeError('my own bug')"))
        for cell in broken.cells:
            cell.source = cell.source.replace('answer = "b"', 'answer = "a"')
        document = _run_autograder(root, env, broken)
        _valid(document, points)
        assert _scores(document) == {**points, "ex-holes": 0}
        assert "my own bug" in document["output"]

        hostile = make_student_version(_with_private(chapter, EXAMPLE)).notebook  # attack after ex-holes' stub
        hostile.cells.insert(4, new_code_cell(f"""
import glob, json, os
found = []
for path in glob.glob({str(root)!r} + "/source/**", recursive=True) + glob.glob("/tmp/*/judges.py"):
    try:
        if os.path.isfile(path):
            open(path).read()
            found.append(path)
    except OSError:
        pass
wrote = []
for target in ("results/results.json", "results/forged.json", "source/assignment.toml", "pwned"):
    try:
        with open({str(root)!r} + "/" + target, "w") as f:
            f.write(json.dumps({{"score": 999, "tests": []}}))
        wrote.append(target)
    except OSError:
        pass
print("found", found, "wrote", wrote)
answer = "b" if (found or wrote) else "a"
"""))
        document = _run_autograder(root, env, hostile)
        _valid(document, points)
        assert document["score"] == 0, document["tests"]
        assert not (root / "results" / "forged.json").exists() and not (root / "pwned").exists()
        assert "999" not in (root / "source" / "assignment.toml").read_text()

        shutil.rmtree(root / "submission")  # nothing submitted: no notebook to run, so in this process
        (root / "submission").mkdir()
        nothing = run(root)
        assert nothing == json.loads((root / "results" / "results.json").read_text())
        assert nothing["score"] == 0 and "no notebook" in nothing["output"]
        assert [t["max_score"] for t in nothing["tests"]] == list(points.values())
        print({k: round(v["_wall"], 1) for k, v in (("solved", full), ("stubbed", stubbed),
                                                    ("hostile", document))})
    finally:
        shutil.rmtree(root, ignore_errors=True)


CHAPTERS = os.environ.get("VAE_GRADESCOPE_CHAPTERS", "")


@pytest.mark.skipif(not CHAPTERS, reason="the real chapters run under `make gradescope-test`")
@pytest.mark.parametrize("stem", [p.stem for p in sorted((ROOT / "chapters").glob("*.ipynb"))])
def test_a_real_chapter_end_to_end(tmp_path, wheels, stem):
    """Before a release: every chapter's zip, set up and run on its solved copy (full marks)
    and its student version (zero), in the isolation the machine gives (bubblewrap here)."""
    if CHAPTERS != "all" and stem not in CHAPTERS.split(","):
        pytest.skip(f"{stem} not in VAE_GRADESCOPE_CHAPTERS")
    chapter = ROOT / "chapters" / f"{stem}.ipynb"
    archive = build_autograder(chapter, tmp_path / f"{stem}.zip", repo=ROOT, wheels=wheels)
    points = {e.label: e.points for e in default_assignment(chapter).exercises}
    root = _autograder_root()
    try:
        env = _setup(archive, root, "auto")
        (solved,) = write_solved_copies(chapter, tmp_path / "solved", 1)
        full = _run_autograder(root, env, nbformat.read(solved, as_version=4))
        _valid(full, points)
        assert full["score"] == sum(points.values()), full["tests"]
        stubbed = _run_autograder(root, env, make_student_version(nbformat.read(chapter, as_version=4)).notebook)
        assert stubbed["score"] == 0
    finally:
        shutil.rmtree(root, ignore_errors=True)
