"""pytest plugin: hand every notebook that nbval executed cleanly to the book's execution cache.

`make test` runs each chapter once, under ``pytest --nbval-lax``. Executing them again for the book
would double the time of the test command, so this plugin collects the outputs nbval captured,
writes them into the notebook, and stores the result in jupyter-cache (the store myst-nb reads in
``execute_notebooks: cache`` mode). The book build that follows finds every chapter already
executed. A notebook with any failing cell is not cached, so the book build would execute it
again and fail there too: nothing that failed under nbval reaches the book as a success.

`make notebooks` executes copies of the chapters, each alone in an empty folder
(`tests/standalone.py`); the environment variable ``VAELIB_NOTEBOOK_SOURCES``
(``copy=original`` pairs, ``os.pathsep``-separated) says which chapter each copy stands for, so the
cache records the chapter's own path. ``VAELIB_BOOK_CACHE=0`` keeps the plugin's check that a
timed-out cell fails, but writes nothing to the cache (runs on another Python).
"""

from __future__ import annotations

import copy
import os
import time
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

CACHE_PATH = Path(__file__).resolve().parent.parent / "_build" / ".jupyter_cache"

_cells: dict[Path, list] = defaultdict(list)
_failed: set[Path] = set()
_seconds: dict[Path, float] = defaultdict(float)


def _notebook_of(item) -> Path | None:
    if type(item).__name__ != "IPyNbCell":
        return None
    return Path(str(item.parent.fspath))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    path = _notebook_of(item)
    start = time.perf_counter()
    outcome = yield
    if path is not None:
        _seconds[path] += time.perf_counter() - start
        if outcome.excinfo is not None:
            _failed.add(path)
        _cells[path].append((item.cell_num, getattr(item, "test_outputs", None) or []))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A cell that hit nbval's time limit fails, even if the interrupt was handled.

    nbval interrupts a cell that runs too long and then only marks the *following* cells as
    expected failures. vaelib.fit turns an interrupt into an early, clean return (the model and
    history are kept), so without this the timed-out cell would pass and the run would succeed.
    """
    outcome = yield
    report = outcome.get_result()
    parent = getattr(item, "parent", None)
    if (call.when == "call" and type(item).__name__ == "IPyNbCell" and report.passed
            and getattr(parent, "timed_out", False) and not getattr(parent, "_timeout_reported", False)):
        parent._timeout_reported = True
        report.outcome = "failed"
        report.longrepr = (f"{item.name} ran past the cell time limit (--nbval-cell-timeout) and was "
                           "interrupted; the notebook is too slow for the test budget.")
        _failed.add(_notebook_of(item))


def _original_paths() -> dict[Path, Path]:
    pairs = os.environ.get("VAELIB_NOTEBOOK_SOURCES", "")
    mapping = {}
    for pair in filter(None, pairs.split(os.pathsep)):
        copy_path, _, original = pair.partition("=")
        mapping[Path(copy_path).resolve()] = Path(original)
    return mapping


def pytest_sessionfinish(session, exitstatus):
    if not _cells or os.environ.get("VAELIB_BOOK_CACHE", "1") == "0":
        return
    originals = _original_paths()
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(CACHE_PATH))
    for path, cells in _cells.items():
        if path in _failed:
            continue
        nb = nbformat.read(path, as_version=4)
        executed = copy.deepcopy(nb)
        code_cells = [c for c in executed.cells if c.cell_type == "code"]
        outputs = dict(cells)
        if len(outputs) != len(code_cells):
            continue  # a partial run (e.g. -x) is not a clean execution
        for number, cell in enumerate(code_cells):
            cell.outputs = [_clean(out) for out in outputs[number]]
            cell.execution_count = number + 1
        nbformat.validate(executed)
        cache.cache_notebook_bundle(
            CacheBundleIn(
                executed,
                str(originals.get(path.resolve(), path)),
                data={"execution_seconds": _seconds[path]},
            ),
            check_validity=False,
            overwrite=True,
        )


def _clean(out):
    """nbval keeps raw kernel messages; make each one a valid nbformat output."""
    out = nbformat.from_dict(dict(out))
    kind = out["output_type"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=out["name"], text=out["text"])
    if kind == "display_data":
        return nbformat.v4.new_output("display_data", data=out["data"], metadata=out.get("metadata", {}))
    if kind == "execute_result":
        return nbformat.v4.new_output(
            "execute_result",
            data=out["data"],
            metadata=out.get("metadata", {}),
            execution_count=out.get("execution_count"),
        )
    if kind == "error":
        return nbformat.v4.new_output(
            "error", ename=out["ename"], evalue=out["evalue"], traceback=out["traceback"]
        )
    raise ValueError(f"unexpected output type {kind!r} from nbval")
