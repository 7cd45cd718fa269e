"""Gradescope: an autograder zip per chapter, and what runs inside Gradescope's container.

:func:`build_autograder` writes ``NN_name-gradescope.zip`` following Gradescope's autograder
specification (gradescope-autograders.readthedocs.io, "Autograder Specifications"): at the top
of the zip ``setup.sh``, which Gradescope runs once as root when it builds the image, and
``run_autograder``, which it runs for each submission with the submitted files in
``/autograder/submission`` and which must write ``/autograder/results/results.json``. The zip also
holds the course packages as wheels built from this checkout (``wheels/``), the reference chapter
(``chapter/``), the points (``assignment.toml``), the instructor's private exercises if any
(``private/``), the measured grading times (``bench/results/``) and ``config.json``.

``setup.sh`` installs a Python of at least 3.11, CPU PyTorch and the wheels (the data comes with
them: the bundled MNIST subset ships in a dependency's wheel), makes everything the learner's
code must not read root's alone, and runs the reference chapter up to its exercises once, so
each submission only runs its exercise cells (the fast path); after setup nothing needs the
network. ``run_autograder`` calls :func:`run`, which grades the submitted notebook in
bubblewrap where the container allows it and otherwise in the uid mode
(:mod:`coursegrader.sandbox`), and writes ``results.json``: the total ``score``,
``execution_time``, the student's feedback as ``output``, and one test per exercise of the
assignment (``name``, ``score``, ``max_score``, ``status``, the check's hint as ``output``,
``visibility``).

The root is ``/autograder`` unless ``VAE_AUTOGRADER_ROOT`` names another folder (the tests use a
temporary one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import resources
from pathlib import Path

__all__ = ["build_autograder", "run", "prepare", "chapter_needs", "build_wheels", "results_document"]

ROOT_ENV = "VAE_AUTOGRADER_ROOT"
DEFAULTS = {"timeout": 540, "cell_timeout": 300, "memory_gb": 8.0, "processes": 512,
            "visibility": "visible", "torch_index": "https://download.pytorch.org/whl/cpu"}


def build_wheels(repo: Path, out: Path) -> list[Path]:
    """``vaelib`` and ``vae-coursegrader`` wheels built from clean copies of the checkout's files."""
    out.mkdir(parents=True, exist_ok=True)
    built = []
    sources = {"vaelib": (repo, ("pyproject.toml", "README.md", "vaelib")),
               "vae_coursegrader": (repo / "coursegrader", ("pyproject.toml", "README.md", "src"))}
    for name, (where, files) in sources.items():
        with tempfile.TemporaryDirectory(prefix=f"{name}-src-") as tmp:
            for item in files:
                path = where / item
                if path.is_dir():
                    shutil.copytree(path, Path(tmp) / item, ignore=shutil.ignore_patterns(
                        "__pycache__", "*.pyc", "*.egg-info"))
                else:
                    shutil.copy2(path, Path(tmp) / item)
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                                   "--no-build-isolation", "--wheel-dir", str(out), tmp],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"building the {name} wheel failed: {done.stderr[-2000:]}")
        (wheel,) = sorted(out.glob(f"{name}-*.whl"))
        built.append(wheel)
    return built


def chapter_needs(repo: Path, chapter: str) -> dict | None:
    """What grading one submission of ``chapter`` took, from ``bench/results/grading_time.json``
    (written by ``make grade-timing``), or None when it was not measured."""
    path = repo / "bench" / "results" / "grading_time.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text()).get("chapters", {}).get(f"{chapter}:fast")
    if not row:
        return None
    # CPU seconds of one thread where measured: what one core takes, however busy the measuring
    # machine was (its wall times grow with the load; these do not)
    for wall, cpu in (("seconds_mean", "cpu_seconds_mean"), ("seconds_max", "cpu_seconds_max"),
                      ("reference_seconds", "reference_cpu_seconds")):
        if row.get(cpu):
            row = {**row, wall: row[cpu]}
    return {k: row[k] for k in ("seconds_mean", "seconds_max", "peak_mb_max", "reference_seconds",
                                "reference_peak_mb") if k in row}


def needs_text(chapter: str, needs: dict | None) -> str:
    """One paragraph for the instructor: what the chapter needs against Gradescope's defaults."""
    if not needs:
        return (f"{chapter}: grading time not measured yet (`make grade-timing CHAPTER={chapter}` "
                "writes bench/results/grading_time.json; rebuild the zip afterwards).")
    peak = max(needs["peak_mb_max"], needs.get("reference_peak_mb", 0))
    limit = needs["seconds_max"] * 3  # room for a slower CPU than the reference machine's core
    text = (f"{chapter}: one submission took {needs['seconds_mean']:.0f} s on average (slowest "
            f"{needs['seconds_max']:.0f} s) on one core of the course's reference machine, with a "
            f"peak of {needs['peak_mb_max']:.0f} MiB; the reference run at setup took "
            f"{needs['reference_seconds']:.0f} s (peak {needs.get('reference_peak_mb', 0):.0f} MiB). "
            "Gradescope's default container has a fraction of a CPU and under 1 GB of memory: in the "
            "assignment's autograder settings, pick one with at least "
            f"{max(1.0, (peak + 600) / 1024):.1f} GB of memory and a timeout of at least "
            f"{math.ceil(max(limit, 60) / 60):.0f} min.")
    if limit > DEFAULTS["timeout"]:
        text += f" Build the zip with --timeout {math.ceil(limit)} (the grader's limit is {DEFAULTS['timeout']} s)."
    return text


def build_autograder(chapter: Path, out: Path, *, repo: Path, assignment: Path | None = None,
                     private: Path | None = None, wheels: list[Path] | None = None,
                     settings: dict | None = None) -> Path:
    """Write the Gradescope autograder zip of one chapter.

    Args:
        chapter: the reference chapter notebook.
        out: the zip to write (its folder is created).
        repo: the checkout the wheels are built from and ``bench/results`` is read from.
        assignment: the chapter's points file; default: the defaults of
            :func:`coursegrader.points.default_assignment`.
        private: a folder of private exercises to grade as well (kept root-only in the container).
        wheels: prebuilt wheels of both packages (default: built now from ``repo``).
        settings: overrides of :data:`DEFAULTS` (``timeout``, ``cell_timeout``, ``memory_gb``,
            ``processes``, ``visibility``, ``torch_index``).

    Returns:
        The zip's path.
    """
    from .chapter import load_chapter
    from .points import assignment_toml, default_assignment, load_assignment

    chapter, out, repo = Path(chapter), Path(out), Path(repo)
    loaded = load_chapter(chapter, private)
    plan = load_assignment(assignment, loaded.labels) if assignment else default_assignment(chapter, private)
    config = {**DEFAULTS, **(settings or {}), "chapter": loaded.stem,
              "needs": chapter_needs(repo, loaded.stem)}
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        wheels = wheels or build_wheels(repo, Path(tmp) / "wheels")
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name in ("setup.sh", "run_autograder"):
                text = resources.files("coursegrader").joinpath(f"platform_files/gradescope_{name}").read_text()
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text)
            for wheel in wheels:
                z.write(wheel, f"wheels/{Path(wheel).name}")
            z.write(chapter, f"chapter/{chapter.name}")
            z.writestr("assignment.toml", assignment_toml(plan))
            z.writestr("config.json", json.dumps(config, indent=1, ensure_ascii=False))
            z.writestr("README.txt", needs_text(loaded.stem, config["needs"]) + "\n")
            if private is not None:
                for path in sorted(Path(private).iterdir()):
                    if path.is_file() and path.suffix in (".py", ".ipynb"):
                        z.write(path, f"private/{path.name}")
            timing = repo / "bench" / "results" / "grading_time.json"
            if timing.is_file():
                z.write(timing, "bench/results/grading_time.json")
    return out


# Inside the container ------------------------------------------------------------------------


def _root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "/autograder"))


def _isolation() -> str:
    """``sandbox`` where bubblewrap works here, else ``uid`` as root; ``VAE_AUTOGRADER_ISOLATION``
    forces one."""
    from .sandbox import find_bwrap

    chosen = os.environ.get("VAE_AUTOGRADER_ISOLATION", "auto")
    if chosen in ("sandbox", "uid"):
        return chosen
    if find_bwrap()[0] is not None:
        return "sandbox"
    if os.getuid() == 0:
        return "uid"
    raise SystemExit("the autograder needs bubblewrap or root to keep the submission apart")


def _setup(root: Path) -> tuple[dict, Path, Path | None, Path]:
    source = root / "source"
    config = json.loads((source / "config.json").read_text())
    (chapter,) = sorted((source / "chapter").glob("*.ipynb"))
    private = source / "private" if (source / "private").is_dir() else None
    return config, chapter, private, root / "grading"


def _grade(folder: Path, chapter: Path, private: Path | None, work: Path, config: dict, log) -> list:
    from .batch import cpu_count, grade_folder
    from .sandbox import Limits

    limits = Limits(memory_bytes=int(float(config["memory_gb"]) * (1 << 30)),
                    processes=int(config["processes"]))
    return grade_folder(folder, chapter, cell_timeout=int(config["cell_timeout"]),
                        total_timeout=int(config["timeout"]), out=work, context=chapter.parent.parent,
                        limits=limits, jobs=1, threads=cpu_count(), fast=True, private=private,
                        isolation=_isolation(), log=log)


def prepare(root: Path | None = None) -> None:
    """At image build time: run the reference chapter up to its exercises once (the fast path's
    state), so that each submission only runs its exercise cells."""
    root = root or _root()
    config, chapter, private, work = _setup(root)
    empty = work / "prepare"
    empty.mkdir(parents=True, exist_ok=True)
    _grade(empty, chapter, private, work, config, print)
    shutil.rmtree(empty)
    for name in ("grades.csv",):
        (work / name).unlink(missing_ok=True)
    _open_tree(work)


def _open_tree(folder: Path) -> None:
    """Folders traversable and files readable by the submission's user (the snapshot's state)."""
    for item in [folder, *folder.rglob("*")]:
        if not item.is_symlink():
            item.chmod(0o755 if item.is_dir() else 0o644)


def results_document(row, plan, feedback: str, seconds: float, visibility: str = "visible") -> dict:
    """Gradescope's ``results.json`` for one graded submission (``row``) and its assignment."""
    from .points import score

    points = score(row, plan)
    tests = []
    for number, e in enumerate(plan.exercises, 1):
        verdict = row.results.get(e.label, "not run")
        message = row.messages.get(e.label, "")
        tests.append({"name": f"{e.title or e.label} ({e.label})", "number": str(number),
                      "score": points.per_exercise[e.label], "max_score": e.points,
                      "status": "passed" if verdict == "pass" else "failed",
                      "output": message if verdict == "pass" else f"{verdict}: {message}",
                      "visibility": visibility})
    return {"score": points.total, "execution_time": round(seconds, 1), "output": feedback,
            "output_format": "md", "stdout_visibility": "hidden", "visibility": visibility,
            "tests": tests}


def _write_results(root: Path, document: dict) -> None:
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False))
    os.replace(tmp, results / "results.json")


def run(root: Path | None = None) -> dict:
    """Grade the submitted notebook and write ``results.json`` (see the module's docstring)."""
    from .points import load_assignment
    from .report import feedback_markdown

    start = time.monotonic()
    root = root or _root()
    config, chapter, private, work = _setup(root)
    plan = load_assignment(root / "source" / "assignment.toml")
    submitted = sorted(p for p in (root / "submission").glob("**/*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts)
    chosen = [p for p in submitted if p.name == chapter.name] or submitted
    if len(chosen) != 1:
        why = ("no notebook (.ipynb) was submitted" if not chosen else
               f"{len(chosen)} notebooks were submitted ({', '.join(p.name for p in chosen)}); "
               f"submit one, best named {chapter.name}")
        document = {"score": 0, "execution_time": 0, "output": f"Not graded: {why}.",
                    "tests": [{"name": f"{e.title or e.label} ({e.label})", "score": 0,
                               "max_score": e.points, "status": "failed", "output": why,
                               "visibility": config["visibility"]} for e in plan.exercises]}
        _write_results(root, document)
        return document
    folder = work / "submitted"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    folder.chmod(0o700)  # the grader's copy; the submission's user gets a copy of its own
    shutil.copyfile(chosen[0], folder / chosen[0].name)
    try:
        (row,) = _grade(folder, chapter, private, work, config, lambda *a: print(*a, flush=True))
    except Exception as err:  # the autograder's own failure: say so on the results page
        _write_results(root, {"score": 0, "execution_time": round(time.monotonic() - start, 1),
                              "output": f"The autograder failed before grading ({type(err).__name__}: "
                              f"{str(err)[:500]}); please tell your instructor.", "tests": []})
        raise
    from .batch import _TITLE
    from .chapter import load_chapter

    loaded = load_chapter(chapter, private)
    titles = {m["label"]: m["title"].strip() for c in loaded.notebook.cells if c.cell_type == "markdown"
              for m in _TITLE.finditer(c.source)}
    feedback = feedback_markdown(row, loaded.labels, titles, loaded.stem)
    document = results_document(row, plan, feedback, time.monotonic() - start, config["visibility"])
    _write_results(root, document)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursegrader.gradescope",
                                     description="Inside Gradescope's container: prepare (at setup) or run.")
    parser.add_argument("step", choices=("prepare", "run"))
    parser.add_argument("--root", type=Path, default=None, help=f"default: ${ROOT_ENV} or /autograder")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.root)
    else:
        document = run(args.root)
        print(f"score {document['score']}, {len(document['tests'])} tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
