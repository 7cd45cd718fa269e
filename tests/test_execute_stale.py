"""tools/execute_stale.py: `make book` executes exactly the chapters whose code has no cached run."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import execute_stale


def _chapter(path, code: str):
    nb = new_notebook(cells=[new_markdown_cell("# A chapter"), new_code_cell(code)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return nb


def test_only_chapters_whose_code_changed_since_their_run_are_stale(tmp_path):
    cache_path = tmp_path / "cache"
    one, two, three = (tmp_path / f"{n}.ipynb" for n in ("one", "two", "three"))
    for path, code in ((one, "x = 1"), (two, "y = 2"), (three, "z = 3")):
        executed = _chapter(path, code)
        executed.cells[1].outputs = [new_output("stream", name="stdout", text="ran\n")]
        if path != three:  # three was never run
            get_cache(str(cache_path)).cache_notebook_bundle(CacheBundleIn(executed, str(path)),
                                                             check_validity=False)
    _chapter(two, "y = 20")  # its code changed after the run
    nb = nbformat.read(one, as_version=4)
    nb.cells[0].source = "# A chapter, reworded"  # prose changes need no new run
    nbformat.write(nb, one)
    assert execute_stale.stale([one, two, three], cache_path) == [two, three]


def test_a_worker_count_below_one_is_refused(capsys):
    import pytest

    with pytest.raises(SystemExit):
        execute_stale.main(["--workers", "0", "chapters/01_autoencoders.ipynb"])
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_all_runs_every_chapter_with_the_extra_pytest_arguments(monkeypatch, tmp_path):
    """`make notebooks` runs every chapter, cached or not, and passes NBVAL_ARGS on to pytest."""
    calls = []
    monkeypatch.setattr(execute_stale.subprocess, "call",
                        lambda command, cwd, env: calls.append((command, env)) or 0)
    monkeypatch.setattr(execute_stale, "stale", lambda chapters: [])  # as if every run were cached
    chapters = ["chapters/01_autoencoders.ipynb", "chapters/02_elbo.ipynb", "chapters/03_reparameterization.ipynb"]
    assert execute_stale.main([*chapters]) == 0 and calls == []
    assert execute_stale.main(["--all", *chapters, "--", "--durations=15"]) == 0
    (command, env), = calls
    assert command[command.index("tests.standalone") + 1:][:3] == [
        str(p) for p in execute_stale.longest_first([Path(c) for c in chapters])]
    assert command[-4:] == ["--dist", "loadfile", "--no-loadscope-reorder", "--durations=15"]
    assert command[command.index("-n") + 1] == "2"
    assert env["OMP_NUM_THREADS"] == "1"  # two kernels share the two cores


def test_the_longest_chapters_go_first_and_unmeasured_ones_before_them(tmp_path):
    """Two workers take chapters in this order: a long chapter left for the end would run alone."""
    times = tmp_path / "ci_time.json"
    times.write_text(json.dumps({"chapters": {"01_a": 90.0, "02_b": 10.0, "03_c": 200.0}}))
    chapters = [Path(f"chapters/{n}.ipynb") for n in ("01_a", "02_b", "03_c", "04_new")]
    assert [p.stem for p in execute_stale.longest_first(chapters, times)] == ["04_new", "03_c", "01_a", "02_b"]
    # no measurements (a file that is missing or not JSON): the order given
    assert execute_stale.longest_first(chapters, tmp_path / "missing.json") == chapters
    (tmp_path / "bad.json").write_text("{")
    assert execute_stale.longest_first(chapters, tmp_path / "bad.json") == chapters
