"""Run chapters the way a learner who downloads one notebook runs it: alone, with vaelib from a wheel.

A chapter opened in Colab or downloaded from the book has no repository around it: no
``../bench``, no ``vaelib/`` folder next to it, only the installed package. `make notebooks` runs
every chapter that way, so the one notebook run of `make test` also proves that:

1. a wheel is built from a copy of the checkout's package files (never from the editable tree, and
   never through a ``build/`` folder a previous build left behind);
2. a throwaway virtual environment gets that wheel and nothing else of the repository. It sees the
   project's `.venv` packages (torch, nbval, ...) through a ``.pth`` line, which adds that folder to
   ``sys.path`` without running its ``.pth`` files, so the editable install of vaelib stays invisible;
3. each chapter is copied alone into its own empty folder, and nbval executes it there, the kernel
   started in that folder by that environment's Python. `tests/nbval_cache.py` still hands the
   outputs to the book's execution cache, under the chapter's real path.

Usage (the Makefile's `notebooks` target)::

    python -m tests.standalone chapters/*.ipynb -- --nbval-cell-timeout=900 -q

Everything after ``--`` goes to pytest. ``--no-book-cache`` (before the notebooks) leaves the book's
execution cache alone, for runs on another Python (tools/check_python_versions.sh). ``VAELIB_STANDALONE_DIR`` keeps the work folder (the
default is a temporary one, removed afterwards).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the wheel is built from; everything else in the repository is not part of the package.
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "vaelib")
# tests/nbval_cache.py reads this to store each copy's outputs under the chapter's own path.
SOURCES_ENV = "VAELIB_NOTEBOOK_SOURCES"


def build_wheel(out_dir: Path) -> Path:
    """Build vaelib's wheel from a clean copy of the package files.

    Args:
        out_dir: folder for the wheel (created if missing).

    Returns:
        The path of the built ``vaelib-<version>-py3-none-any.whl``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vaelib-src-") as tmp:
        src = Path(tmp)
        for name in PACKAGE_FILES:
            path = REPO_ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, src / name)
        log = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                    str(out_dir), str(src)], "building the vaelib wheel")
    # A packaging deprecation today is a build that stops working on a later setuptools.
    deprecated = [line.strip() for line in log.splitlines() if "Deprecat" in line or "deprecated" in line]
    if deprecated:
        raise RuntimeError("building the vaelib wheel warns of deprecated packaging, which a later "
                           "setuptools will refuse: " + " | ".join(deprecated[:5]))
    wheels = sorted(out_dir.glob("vaelib-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise RuntimeError(f"pip wheel reported success but wrote no vaelib wheel into {out_dir}")
    return wheels[-1]


def make_environment(env_dir: Path, wheel: Path | None = None) -> Path:
    """A virtual environment that sees this interpreter's packages but not the vaelib source tree.

    Args:
        env_dir: where to create it (must not exist yet, or be empty).
        wheel: a vaelib wheel to install into it; ``None`` leaves vaelib missing.

    Returns:
        The environment's Python executable.
    """
    env_dir = Path(env_dir)
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = Path(_ask(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    # A plain path line: the folders join sys.path after the environment's own site-packages, and
    # their .pth files (the editable vaelib's finder among them) are not executed.
    inherited = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (own / "_inherited_packages.pth").write_text("\n".join(inherited) + "\n")
    if wheel is not None:
        # --ignore-installed: the project's .venv lists an (editable) vaelib of the same version,
        # which pip would otherwise take as already installed.
        _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
              str(wheel)], "installing the vaelib wheel")
    return python


def copy_alone(notebooks: list[Path], work: Path) -> dict[Path, Path]:
    """Copy each notebook into its own empty folder under ``work``; return copy -> original."""
    copies = {}
    for notebook in notebooks:
        notebook = Path(notebook).resolve()
        folder = Path(work) / notebook.stem
        folder.mkdir(parents=True)
        copy = folder / notebook.name
        shutil.copy2(notebook, copy)
        copies[copy] = notebook
    return copies


def run_notebooks(notebooks: list[Path], pytest_args: list[str], work: Path, *,
                  book_cache: bool = True) -> int:
    """Execute every notebook alone, under nbval, with vaelib from a fresh wheel; pytest's status."""
    wheel = build_wheel(work / "wheel")
    python = make_environment(work / "env", wheel)
    where = _ask(python, "import vaelib; print(vaelib.__file__)", cwd=work)
    if not Path(where).resolve().is_relative_to((work / "env").resolve()):
        raise RuntimeError(f"the standalone environment imports vaelib from {where}, not the wheel")
    copies = copy_alone(notebooks, work / "chapters")
    env = dict(os.environ, **{SOURCES_ENV: os.pathsep.join(f"{c}={o}" for c, o in copies.items())})
    env.pop("PYTHONPATH", None)  # the kernel must find vaelib in the environment only
    print(f"standalone run: vaelib from {wheel.name}; each notebook alone in {work / 'chapters'}",
          flush=True)
    # The plugin also fails a cell that hit the time limit, so it is loaded in either case.
    env["VAELIB_BOOK_CACHE"] = "1" if book_cache else "0"
    command = [str(python), "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "tests.nbval_cache",
               # the copies' folder as rootdir: each cell's id names its notebook (pytest-xdist
               # tells the cells of two notebooks apart by it)
               f"--rootdir={work / 'chapters'}", "-c", str(REPO_ROOT / "pyproject.toml"),
               *pytest_args, *map(str, copies)]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


def _ask(python: Path, code: str, cwd: Path | None = None) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{python} -c {code!r} failed:\n{done.stderr}")
    return done.stdout.strip()


def _run(command: list[str], what: str) -> str:
    """Run ``command``; its stdout and stderr, or a RuntimeError with both."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(command)}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    book_cache = "--no-book-cache" not in argv[:argv.index("--") if "--" in argv else len(argv)]
    if not book_cache:
        argv.remove("--no-book-cache")
    split = argv.index("--") if "--" in argv else len(argv)
    notebooks, pytest_args = [Path(a) for a in argv[:split]], argv[split + 1:]
    if not notebooks:
        print("usage: python -m tests.standalone NOTEBOOK... [-- PYTEST_ARGS]", file=sys.stderr)
        return 2
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    keep = os.environ.get("VAELIB_STANDALONE_DIR")
    if keep:
        work = Path(keep).resolve()
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return run_notebooks(notebooks, pytest_args, work, book_cache=book_cache)
    with tempfile.TemporaryDirectory(prefix="vaelib-standalone-") as tmp:
        return run_notebooks(notebooks, pytest_args, Path(tmp), book_cache=book_cache)


if __name__ == "__main__":
    sys.exit(main())
