"""A chapter opened alone works: the setup cell, the wheel it relies on, and the standalone runner.

`make notebooks` executes every chapter alone with vaelib from a wheel (tests/standalone.py);
these tests cover what that run cannot see: the setup cell's install path, taken only where
vaelib is missing, here pointed at a wheel built from this checkout instead of the release URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import nbval_cache, standalone
from tools import sync_setup_cell

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
SETUP = sync_setup_cell.setup_source()
AFTER_SETUP = """
import vaelib
print("vaelib from", vaelib.__file__)
print("benchmark device:", vaelib.bench_results.load("vae_quality")["device"])
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return standalone.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture()
def bare_python(tmp_path) -> Path:
    """A Python with the project's dependencies but no vaelib (like Colab, or a fresh Jupyter)."""
    python = standalone.make_environment(tmp_path / "env")
    found = subprocess.run([str(python), "-c", "import vaelib"], cwd=tmp_path, capture_output=True)
    assert found.returncode != 0, "vaelib is importable in the bare environment; the test is void"
    return python


def _run_cell(python: Path, code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run code the way a kernel runs a cell: through IPython (the cell uses %pip), one process."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAELIB_INSTALL_SOURCE")}
    environ["IPYTHONDIR"] = str(cwd / ".ipython")  # leave the user's IPython profile alone
    command = [str(python), "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**environ, **env}, timeout=600, check=False)


# --------------------------------------------------------------------------------------------
# The setup cell
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_starts_with_the_generated_setup_cell(path):
    problems = sync_setup_cell.problems(json.loads(path.read_text(encoding="utf-8")), SETUP)
    assert not problems, f"{path.name}: {'; '.join(problems)}. Run: python tools/sync_setup_cell.py"


def test_setup_cell_pins_the_release_of_this_version():
    config = (ROOT / "_config.yml").read_text()
    version = (ROOT / "pyproject.toml").read_text().split('version = "')[1].split('"')[0]
    requirement = sync_setup_cell.install_requirement()
    assert requirement.startswith("vaelib @ git+https://")
    assert requirement.endswith(f"@v{version}")
    assert requirement.removeprefix("vaelib @ git+").removesuffix(f"@v{version}") in config


def test_sync_inserts_before_the_first_code_cell_once():
    notebook = {"cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": ["# Title"]},
        {"cell_type": "code", "id": "imports", "metadata": {}, "outputs": [],
         "execution_count": None, "source": ["import vaelib"]},
    ]}
    once = sync_setup_cell.synced(notebook, SETUP)
    assert [c["id"] for c in once["cells"]] == ["title", sync_setup_cell.CELL_ID, "imports"]
    assert sync_setup_cell.problems(once, SETUP) == []
    stale = json.loads(json.dumps(once))
    stale["cells"][1]["source"] = ["# an old version\n"]
    assert sync_setup_cell.problems(stale, SETUP) == ["the setup cell differs from the generated one"]
    assert sync_setup_cell.synced(stale, SETUP) == once
    assert sync_setup_cell.problems(notebook, SETUP) == ["no setup cell"]


def test_setup_cell_does_nothing_where_vaelib_is_installed(tmp_path):
    done = _run_cell(Path(sys.executable), SETUP, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_setup_cell_installs_the_package_where_it_is_missing(wheel, bare_python, tmp_path):
    done = _run_cell(bare_python, SETUP + AFTER_SETUP, tmp_path, VAELIB_INSTALL_SOURCE=str(wheel))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"vaelib is not installed here; installing {wheel}")
    assert "vaelib is installed and imported: no restart is needed, go on." in lines
    where = Path(next(line for line in lines if line.startswith("vaelib from ")).split(" ", 2)[2])
    assert where.is_relative_to(tmp_path / "env"), f"vaelib came from {where}, not the new install"
    assert lines[-1] == "benchmark device: cpu"  # package data came with the wheel
    again = _run_cell(bare_python, SETUP, tmp_path)
    assert again.returncode == 0 and again.stdout == "", "a second run must do nothing"


def test_setup_cell_failure_says_what_to_do(bare_python, tmp_path):
    missing = tmp_path / "vaelib-9.9.9-py3-none-any.whl"
    done = _run_cell(bare_python, SETUP, tmp_path, VAELIB_INSTALL_SOURCE=str(missing))
    output = done.stdout + done.stderr  # IPython prints tracebacks on stdout
    assert done.returncode != 0
    assert f"ModuleNotFoundError: pip could not install {missing}" in output
    assert "VAELIB_INSTALL_SOURCE" in output and "README" in output


def test_setup_cell_reports_a_missing_dependency_as_such(tmp_path):
    """vaelib present but a dependency missing: say which, do not reinstall the course."""
    (tmp_path / "vaelib").mkdir()
    (tmp_path / "vaelib" / "__init__.py").write_text("import a_dependency_that_is_not_there\n")
    done = _run_cell(Path(sys.executable), SETUP, tmp_path)
    assert done.returncode != 0
    assert "No module named 'a_dependency_that_is_not_there'" in done.stdout + done.stderr
    assert "installing" not in done.stdout


def test_setup_cell_gives_the_grader_nothing_to_flag():
    """The grader flags subprocess and importlib in a submission; the setup cell uses neither."""
    import re

    from coursegrader.chapter import SUSPICIOUS

    flagged = [reason for reason, pattern in SUSPICIOUS.items() if re.search(pattern, SETUP)]
    assert flagged == []


# --------------------------------------------------------------------------------------------
# The wheel and the standalone runner
# --------------------------------------------------------------------------------------------


def test_wheel_ships_every_file_of_the_package(wheel):
    """Modules, scripts, styles and data: anything in vaelib/ that a chapter may load."""
    in_tree = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "vaelib").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".tmp")
    }
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert in_tree - in_wheel == set(), f"missing from the wheel: {sorted(in_tree - in_wheel)}"
    assert "vaelib/bench_results/vae_quality.json" in in_wheel


def test_copy_alone_gives_each_notebook_an_empty_folder(tmp_path):
    copies = standalone.copy_alone(CHAPTERS[:2], tmp_path)
    for copy, original in copies.items():
        assert list(copy.parent.iterdir()) == [copy]
        assert copy.read_bytes() == original.read_bytes()


def test_cache_records_the_chapter_not_the_copy(tmp_path, monkeypatch):
    copy = tmp_path / "02_elbo" / "02_elbo.ipynb"
    original = ROOT / "chapters" / "02_elbo.ipynb"
    monkeypatch.setenv(standalone.SOURCES_ENV, f"{copy}={original}")
    assert nbval_cache._original_paths() == {copy.resolve(): original}


def test_no_chapter_reads_a_repository_path():
    """A chapter opened alone has no ../bench or ../vaelib; only literalinclude (the book) may."""
    for path in CHAPTERS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                assert "../" not in source, f"{path.name} reads a repository path:\n{source}"


def test_standalone_run_uses_the_wheel_and_catches_a_repository_path(tmp_path, capfd):
    """End to end, on a two-cell notebook: the kernel imports vaelib from the throwaway
    environment, and a read of ../bench (there in a clone, not next to a lone notebook) fails."""
    import nbformat

    probe = tmp_path / "probe.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "import pathlib, vaelib\n"
            "here = pathlib.Path.cwd()\n"
            "assert list(here.iterdir()) == [here / 'probe.ipynb'], list(here.iterdir())\n"
            "assert pathlib.Path(vaelib.__file__).is_relative_to(here.parent.parent / 'env')"),
        nbformat.v4.new_code_cell("print(open('../bench/results/README.md').read())"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, probe)
    status = standalone.run_notebooks([probe], ["-q", "-p", "no:cacheprovider"], tmp_path / "work",
                                      book_cache=False)
    output = capfd.readouterr().out
    assert status == 1, output
    assert "1 failed, 1 passed" in output and "FileNotFoundError" in output, output
