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
        str(p) for p in execute_stale.queue_order([Path(c) for c in chapters])]
    assert command[-4:] == ["--dist", "loadfile", "--no-loadscope-reorder", "--durations=15"]
    assert command[command.index("-n") + 1] == "2"
    assert env["OMP_NUM_THREADS"] == "1"  # two kernels share the two cores

    # One stale chapter alone runs with one thread too: its numbers must not depend on how many ran.
    calls.clear()
    monkeypatch.setattr(execute_stale, "stale", lambda chapters: [Path(chapters[0])])
    assert execute_stale.main([*chapters]) == 0
    (command, env), = calls
    assert command[command.index("-n") + 1] == "1" and env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"


def _finish(queue: list[Path], seconds: dict[str, float], workers: int) -> float:
    """When the last chapter ends, each worker taking the queue's next chapter as it finishes one."""
    free = [0.0] * workers
    for chapter in queue:
        worker = free.index(min(free))
        free[worker] += seconds[chapter.stem]
    return max(free)


# Nine chapters whose longest-first queue leaves one worker 30 s alone at the end: the best share
# of them between two workers ends at 410 s (142 + 134 + 124 + 10 against 120 + 99 + 90 + 88 + 10).
SECONDS = {"01_a": 88.0, "02_b": 10.0, "03_c": 10.0, "04_d": 134.0, "05_e": 142.0, "06_f": 120.0,
           "07_g": 90.0, "08_h": 124.0, "09_i": 99.0}


def test_the_queue_lets_two_workers_finish_together(tmp_path):
    times = tmp_path / "ci_time.json"
    times.write_text(json.dumps({"chapters": SECONDS}))
    chapters = [Path(f"chapters/{n}.ipynb") for n in SECONDS]
    longest_first = sorted(chapters, key=lambda p: -SECONDS[p.stem])
    assert _finish(longest_first, SECONDS, 2) == 440.0
    queue = execute_stale.queue_order(chapters, 2, times)
    assert sorted(queue) == chapters and _finish(queue, SECONDS, 2) == 410.0
    assert {p.stem for p in queue[-2:]} == {"02_b", "03_c"}  # the short ones last, to absorb a late worker
    # three workers: every share of nine chapters (3 ** 9) is tried too
    three = execute_stale.queue_order(chapters, 3, times)
    assert _finish(three, SECONDS, 3) <= _finish(longest_first, SECONDS, 3)
    assert _finish(three, SECONDS, 3) - sum(SECONDS.values()) / 3 < 10
    # one worker: longest first (the order does not matter then)
    assert execute_stale.queue_order(chapters, 1, times) == longest_first


def test_unmeasured_chapters_go_first_and_no_measurements_keep_the_order_given(tmp_path):
    times = tmp_path / "ci_time.json"
    times.write_text(json.dumps({"chapters": {"01_a": 90.0, "02_b": 10.0, "03_c": 200.0}}))
    chapters = [Path(f"chapters/{n}.ipynb") for n in ("01_a", "02_b", "03_c", "04_new")]
    queue = execute_stale.queue_order(chapters, 2, times)
    assert queue[0].stem == "04_new" and sorted(queue) == chapters
    # no measurements (a file that is missing or not JSON): the order given
    assert execute_stale.queue_order(chapters, 2, tmp_path / "missing.json") == chapters
    (tmp_path / "bad.json").write_text("{")
    assert execute_stale.queue_order(chapters, 2, tmp_path / "bad.json") == chapters
