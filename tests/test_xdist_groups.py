"""`make test` shares tests out among pytest-xdist workers with `--dist loadgroup`: the tests of
one `xdist_group` (a page of the book, a graded folder) must run on one worker, or the expensive
fixture they share is built on both. A pytest or xdist release that silently stops grouping
(pytest-xdist#1386, with pytest 9.2) fails here instead of doubling the run's time."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap


def test_each_group_runs_on_one_worker(tmp_path):
    (tmp_path / "test_groups.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.fixture(scope="module", params=[pytest.param(p, marks=pytest.mark.xdist_group(p))
                                                for p in ("left", "right")])
        def side(request):
            return request.param

        @pytest.mark.parametrize("n", range(4))
        def test_member(side, n):
            pass
        """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
                           "-p", "no:cacheprovider", "test_groups.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set[str]] = {}
    for worker, side in re.findall(r"\[(gw\d)\].*PASSED .*test_member\[(left|right)-\d\]", done.stdout):
        workers.setdefault(side, set()).add(worker)
    assert sorted(workers) == ["left", "right"], done.stdout
    assert all(len(w) == 1 for w in workers.values()), (
        f"an xdist_group ran on several workers ({workers}): --dist loadgroup is not grouping with "
        "this pytest and pytest-xdist (see pyproject.toml)")
