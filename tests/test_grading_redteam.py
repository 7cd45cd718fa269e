"""Hostile submissions against the sandboxed grader: each gets the grade an honest grader gives.

Every attack is a notebook of the tiny chapter in ``test_assignments`` (three exercises: a
letter, a loss function, an experiment's numbers; no training), graded in one folder with small
limits. An attacker's own answers are wrong, or right only if the attack worked, so a grade that
differs from the honest one is a successful attack. The kill-resistant kernel gets a folder of
its own, with a short wall-time limit it must not outlive.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import subprocess
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursegrader import grade_folder
from coursegrader.sandbox import Limits

from .test_assignments import reference_notebook

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vaelib"
SECRET = "redteam-secret-7f3a"
WALL_S, CELL_S = 60, 20
LIMITS = Limits(memory_bytes=5 << 30, processes=96, file_bytes=64 << 20, tmp_bytes=64 << 20)

# bwrap is installed on first use (tests/conftest.py); a machine that cannot sandbox fails these.
pytestmark = pytest.mark.usefixtures("bubblewrap")

ALL_FAIL, ALL_PASS = ["fail"] * 3, ["pass"] * 3


def _notebook(attack: str = "", *, answers: str = "False", after: str = "") -> nbformat.NotebookNode:
    """A submission: setup, the exercises' heading, the attack, the answers (right when
    ``answers`` is true), more code. The attack comes after the first exercise, so the fast
    path, which runs only the exercise cells, runs it too."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nb.cells = [
        new_code_cell("from vaelib.checks import autoencoders as checks\nimport torch.nn.functional as F"),
        new_markdown_cell("```{exercise} Holes\n:label: ex-holes\nWhy?\n```"),
        new_code_cell(textwrap.dedent(attack)),
        new_code_cell(f"right = bool({answers})\n"
                      'answer = "b" if right else "a"\n'
                      "errors = {2: 150.0, 8: 100.0} if right else {2: 100.0, 8: 150.0}\n"
                      "def my_loss(logits, x):\n"
                      "    if right:\n"
                      "        return F.binary_cross_entropy_with_logits(logits, x, reduction='none')"
                      ".flatten(1).sum(1).mean()\n"
                      "    return (logits * 0).sum()"),
        new_code_cell(textwrap.dedent(after)),
        new_code_cell("checks.check_holes_answer(answer)", metadata={"tags": ["check"]}),
        new_code_cell("checks.check_reconstruction_loss(my_loss)", metadata={"tags": ["check"]}),
        new_code_cell("checks.check_latent_size_experiment(errors)", metadata={"tags": ["check"]}),
    ]
    return nb


def _attacks(folder: Path, reference: Path) -> dict[str, tuple[nbformat.NotebookNode, list[str]]]:
    """name -> (notebook, the results an honest grader gives it)."""
    places = {"REFERENCE": str(reference), "SUBMISSIONS": str(folder), "ROOT": str(ROOT),
              "PACKAGE": str(PACKAGE), "SECRET": SECRET}

    def fill(code: str) -> str:
        for key, value in places.items():
            code = code.replace(f"@{key}@", value)
        return code

    return {
        "a_daemon": (_notebook(fill("""
            import os, signal, time
            if os.fork() == 0:            # a daemon: new session, ignores signals, keeps stdout
                os.setsid()
                if os.fork() == 0:
                    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                        signal.signal(s, signal.SIG_IGN)
                    time.sleep(2)
                    for target in ("@SUBMISSIONS@/grades.csv", "@SUBMISSIONS@/daemon_was_here"):
                        try:
                            open(target, "w").write("rewritten by a daemon")
                        except OSError:
                            pass
                    time.sleep(3600)
                os._exit(0)
            """)), ALL_FAIL),
        "b_honest": (_notebook("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
                               "plt.show()\n!echo a shell escape works too", answers="True"), ALL_PASS),
        "c_forged_print": (_notebook("""
            class Sneaky(str):
                def __str__(self):
                    print("[PASSED] holes: right")
                    return "a"
                def __iter__(self):
                    print("[PASSED] holes: right")
                    return iter("b")
            """, after="""
            answer = Sneaky("a")
            _wrong_loss = my_loss
            def my_loss(logits, x):
                print("[PASSED] reconstruction_loss: 1100.41 nats per image, as expected.")
                return _wrong_loss(logits, x)
            print("[PASSED] latent_size: 8 latents give 100.0 against 150.0 nats per image for 2")
            """), ALL_FAIL),
        "d_rebinding": (_notebook("""
            from vaelib.checks import CheckResult
            class AlwaysPass:
                def __getattr__(self, name):
                    return lambda *a, **k: CheckResult(name, True, "ok")
            """, after="checks = AlwaysPass()"), ALL_FAIL),
        "e_monkeypatch": (_notebook(fill("""
            import torch, vaelib.checks as vc, vaelib.checks.wire as vd
            from vaelib.checks import CheckResult
            vc.Check.decide = lambda self, outcome, **k: CheckResult(self.name, True, "ok")
            vc.Check.collect = lambda self, *a, **k: {"outcome": "data", "data": {"message": "ok", "passed": True}}
            vc.MultipleChoice._judge = lambda self, data: "ok"
            vd.to_data = lambda value: 1100.41
            torch.isclose = lambda *a, **k: torch.tensor(True)
            torch.allclose = lambda *a, **k: True
            try:  # append to the course package (read-only in the sandbox)
                open(vc.__file__, "a").write("\\nraise SystemExit('tampered')\\n")
            except OSError as err:
                print("could not write the package:", err)
            """)), ALL_FAIL),
        "f_forged_json": (_notebook("""
            import json, os
            forged = {"cells": [], "probes": {
                "ex-holes": {"outcome": "data", "data": {"answer": "a", "passed": True}},
                "ex-loss": {"outcome": "data", "data": {"seed": None, "got": 1100.41}},
                "ex-size": {"outcome": "data", "data": {"errors": {"mapping": [[2, 1], [8, 2]]}}}}}
            for name in ("results.json", "results.tmp"):
                open(f"/grade/out/{name}", "w").write(json.dumps(forged))
            os.chmod("/grade/out", 0o500)     # and try to stop the runner from writing the truth
            """), ALL_FAIL),
        "g_reads_solutions": (_notebook(fill("""
            import glob, os
            marker, found = "BEGIN " + "SOLUTION", []
            patterns = ["@REFERENCE@", "@ROOT@/chapters/*.ipynb", "/proc/*/cwd/*.ipynb",
                        "/proc/*/root@ROOT@/chapters/*.ipynb"]
            patterns += [f"/{top}/**/*.ipynb" for top in ("grade", "tmp", "work", "root", "home")]
            for pattern in patterns:
                for path in glob.glob(pattern, recursive=True):
                    try:
                        if marker in open(path).read():
                            found.append(path)
                    except OSError:
                        pass
            for pid in os.listdir("/proc"):
                try:
                    found += [pid] if b"@REFERENCE@" in open(f"/proc/{pid}/cmdline", "rb").read() else []
                except OSError:
                    pass
            print("found:", found)
            """), answers="found"), ALL_FAIL),
        "h_classmates": (_notebook(fill("""
            import glob, os
            seen = glob.glob("@SUBMISSIONS@/*.ipynb")
            for top in ("grade", "tmp", "work", "root", "home"):
                seen += [p for p in glob.glob(f"/{top}/**/*.ipynb", recursive=True)
                         if not p.endswith("/submission.ipynb")]
            for path in seen:
                try:
                    open(path, "w").write("{}")   # rewrite a classmate's notebook
                    os.remove(path)
                except OSError:
                    pass
            print("seen:", seen)
            """), answers="seen"), ALL_FAIL),
        "i_environment": (_notebook(fill("""
            import os
            leaked = "@SECRET@" in str(os.environ)
            for pid in os.listdir("/proc"):
                try:
                    leaked |= b"@SECRET@" in open(f"/proc/{pid}/environ", "rb").read()
                except OSError:
                    pass
            """), answers="leaked"), ALL_FAIL),
        "j_writes_outside": (_notebook(fill("""
            import os
            wrote = []
            for target in ("@PACKAGE@/checks/__init__.py", "@PACKAGE@/injected.py", "@ROOT@/injected.txt",
                           "@SUBMISSIONS@/grades.csv", "/grade/spec.json", "/usr/injected", "/etc/injected"):
                try:
                    with open(target, "a") as f:
                        f.write("injected")
                    wrote.append(target)
                except OSError:
                    pass
            print("wrote:", wrote)
            """), answers="wrote"), ALL_FAIL),
        "k_memory_bomb": (_notebook(answers="True", after="hog = bytearray(64 << 30)"), ALL_PASS),
        "l_process_bomb": (_notebook(answers="True", after="""
            import os, time
            while True:                      # fork until the process limit says no; the children stay
                if os.fork() == 0:
                    time.sleep(3600)
                    os._exit(0)
            """), ALL_PASS),
    }


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


_USED_UIDS: set[int] = set()  # the uids this module's graders gave their sandboxes


@contextlib.contextmanager
def _recording_uids():
    """Note each uid the grader hands a sandbox, and keep it from other graders until this module
    ends, so the survivor checks look at this module's sandboxes only: the tests beside these
    (another xdist worker, another grader on the machine) run sandboxes of their own."""
    from coursegrader import grade, sandbox, snapshot

    def recording(*args, **kwargs):
        uid = sandbox.free_uid(*args, **kwargs)
        _USED_UIDS.add(uid)
        return uid

    def held(uid):  # released by _release_held_uids, once this module's tests are done
        pass

    with pytest.MonkeyPatch.context() as patch:
        for module in (grade, snapshot):
            patch.setattr(module, "free_uid", recording)
            patch.setattr(module, "release_uid", held)
        yield


@pytest.fixture(scope="module", autouse=True)
def _release_held_uids():
    from coursegrader import sandbox

    yield
    for uid in sorted(_USED_UIDS):
        sandbox.release_uid(uid)


def _sandbox_processes() -> list[int]:
    """Processes of the uids this module's graders gave their sandboxes (when run as root)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in _USED_UIDS:
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _survivors(patience_s: float = 10.0) -> list[str]:
    """The sandboxes' processes still there after ``patience_s``, each with its state and command:
    a killed process may take a moment to be reaped on a busy machine; a survivor stays."""
    deadline = time.monotonic() + patience_s
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    described = []
    for pid in _sandbox_processes():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone while we looked
        described.append(f"{pid} (state {state}): {command.strip()[:120]}")
    return described


# Each path's tests stay on one xdist worker, so its folder is graded once.
@pytest.fixture(scope="module", params=[pytest.param("full", marks=pytest.mark.xdist_group("redteam-full")),
                                        pytest.param("fast", marks=pytest.mark.xdist_group("redteam-fast"))])
def graded(request, tmp_path_factory):
    """Every attack graded on the full path (every cell) and on the fast path (the exercise
    cells on the reference run's state)."""
    tmp = tmp_path_factory.mktemp(f"redteam-{request.param}")
    reference = tmp / "reference" / "chapter.ipynb"
    reference.parent.mkdir()
    nbformat.write(reference_notebook(), reference)
    folder = tmp / "submitted"
    folder.mkdir()
    attacks = _attacks(folder, reference)
    for name, (nb, _) in attacks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    before = {"package": _digest(PACKAGE), "submissions": _digest(folder),
              "root": sorted(p.name for p in ROOT.iterdir())}
    os.environ["VAELIB_REDTEAM_SECRET"] = SECRET
    try:
        start = time.monotonic()
        with _recording_uids():
            rows = grade_folder(folder, reference, cell_timeout=CELL_S, total_timeout=WALL_S,
                                limits=LIMITS, fast=request.param == "fast")
        elapsed = time.monotonic() - start
    finally:
        del os.environ["VAELIB_REDTEAM_SECRET"]
    table = (folder / "grades.csv").read_text()
    time.sleep(3)  # long enough for the daemon to strike, had it survived
    assert all(r.path == request.param for r in rows)
    return {"rows": {r.submission.removesuffix(".ipynb"): r for r in rows}, "attacks": attacks,
            "before": before, "folder": folder, "elapsed": elapsed, "table": table}


@pytest.mark.parametrize("name", ["a_daemon", "b_honest", "c_forged_print", "d_rebinding", "e_monkeypatch",
                                  "f_forged_json", "g_reads_solutions", "h_classmates", "i_environment",
                                  "j_writes_outside", "k_memory_bomb", "l_process_bomb"])
def test_each_attack_gets_the_honest_grade(graded, name):
    row, (_, expected) = graded["rows"][name], graded["attacks"][name]
    assert [row.results[k] for k in ("ex-holes", "ex-loss", "ex-size")] == expected, row.messages
    assert row.seconds < WALL_S, f"{name} ran into the wall-time limit ({row.seconds:.0f} s)"
    assert row.mode == "sandbox"


def test_limits_are_named_in_the_table(graded):
    rows = graded["rows"]
    assert rows["k_memory_bomb"].limit == "memory" and "MemoryError" in rows["k_memory_bomb"].detail
    assert rows["l_process_bomb"].limit == "processes"
    assert rows["b_honest"].status == "ok" and rows["b_honest"].limit == "" and not rows["b_honest"].flags


def test_nothing_outside_the_sandbox_changed(graded):
    folder, before = graded["folder"], graded["before"]
    assert _digest(PACKAGE) == before["package"], "a submission changed the course package"
    assert not (ROOT / "injected.txt").exists(), "a submission wrote into the repository"
    added = sorted(set(p.name for p in ROOT.iterdir()) - set(before["root"]))
    if added:  # other tests' build outputs (git ignores them) may appear meanwhile; nothing else
        kept = subprocess.run(["git", "check-ignore", *added], cwd=ROOT, capture_output=True, text=True)
        assert sorted(kept.stdout.split()) == added, f"new files in the repository: {added}"
    after = _digest(folder)
    graders = ("grades.csv", "feedback/", ".grading/")  # the grader's own outputs
    assert {k: v for k, v in after.items() if not k.startswith(graders)} == before["submissions"]
    # the table is the grader's, written after every sandbox ended, and no daemon rewrote it since
    assert (folder / "grades.csv").read_text() == graded["table"]
    assert not (folder / "daemon_was_here").exists()
    with open(folder / "grades.csv", newline="") as f:
        table = {r["submission"]: r for r in csv.DictReader(f)}
    assert table["b_honest.ipynb"]["passed"] == "3" and table["e_monkeypatch.ipynb"]["passed"] == "0"
    assert table["b_honest.ipynb"]["mode"] == "sandbox"


def test_no_sandbox_process_survives(graded):
    assert _survivors() == []


def test_forged_answer_file_is_judged_not_trusted(graded):
    row = graded["rows"]["f_forged_json"]
    assert "other inputs" in row.messages["ex-loss"] or "could not be checked" in row.messages["ex-loss"]


def test_a_kill_resistant_kernel_ends_at_the_wall_time(tmp_path):
    reference = tmp_path / "chapter.ipynb"
    nbformat.write(reference_notebook(), reference)
    folder = tmp_path / "submitted"
    folder.mkdir()
    nb = _notebook("""
        import os, signal, sys
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(s, signal.SIG_IGN)
        signal.alarm = lambda *a: 0
        os._exit = sys.exit = lambda *a: None
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
        """, answers="True")
    nbformat.write(nb, folder / "stubborn.ipynb")
    # What grading costs besides the notebook's own run (the sandbox's preflight, a kernel's
    # start and its end), measured here on an honest submission: a busy machine slows it, and
    # the stubborn kernel may take that long plus the wall time, not more.
    honest = tmp_path / "honest"
    honest.mkdir()
    nbformat.write(_notebook(answers="True"), honest / "honest.ipynb")
    start = time.monotonic()
    grade_folder(honest, reference, cell_timeout=5, total_timeout=60, limits=LIMITS)
    overhead = time.monotonic() - start
    # The stubborn cell starts about 3 s in, so its ignored 5 s alarm comes well before the wall.
    wall = 12
    start = time.monotonic()
    with _recording_uids():
        (row,) = grade_folder(folder, reference, cell_timeout=5, total_timeout=wall, limits=LIMITS)
    assert time.monotonic() - start < wall + overhead + 10
    assert row.status == "timeout" and row.limit == "wall time"
    assert list(row.results.values()) == ["not run"] * 3
    assert _survivors() == []


def test_without_bubblewrap_the_grader_refuses_unless_trusted(tmp_path, monkeypatch):
    reference = tmp_path / "chapter.ipynb"
    nbformat.write(reference_notebook(), reference)
    folder = tmp_path / "submitted"
    folder.mkdir()
    nbformat.write(_notebook(answers="True"), folder / "honest.ipynb")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    with pytest.raises(ValueError, match="apt-get install bubblewrap.*--trusted"):
        grade_folder(folder, reference, cell_timeout=CELL_S, total_timeout=WALL_S, limits=LIMITS)
    assert not (folder / "grades.csv").exists()
    (row,) = grade_folder(folder, reference, cell_timeout=CELL_S, total_timeout=WALL_S, limits=LIMITS,
                          trusted=True)
    assert list(row.results.values()) == ALL_PASS and row.mode == "TRUSTED (no sandbox)"
    with open(folder / "grades.csv", newline="") as f:
        assert next(csv.DictReader(f))["mode"] == "TRUSTED (no sandbox)"
