"""Every chapter is stored with the top-level metadata JupyterLab writes for the course's Python, so
opening a chapter and closing it without edits leaves it unmodified (no "Save changes?", no diff).

JupyterLab replaces `kernelspec` and `language_info` with what the running ipykernel reports as
soon as the kernel starts, and marks the notebook modified when they differ. The Python version is
the one CI and `make test` run (3.11); tests/lab checks in JupyterLab itself that a chapter stays
unmodified after opening.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {  # without "version", checked below
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_metadata_is_what_jupyterlab_writes(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    metadata = notebook["metadata"]
    assert set(metadata) == {"kernelspec", "language_info"}, f"unexpected keys {sorted(metadata)}"
    assert metadata["kernelspec"] == KERNELSPEC
    info = dict(metadata["language_info"])
    version = info.pop("version", "")
    assert info == LANGUAGE_INFO
    assert re.fullmatch(r"3\.11\.\d+", version), f"language_info.version {version!r}: want CI's 3.11.x"
    # every cell has the id that nbformat 4.5 requires (JupyterLab adds a missing one: a change)
    assert all(cell.get("id") for cell in notebook["cells"])


def test_chapters_agree_on_the_python_version():
    versions = {json.loads(p.read_text(encoding="utf-8"))["metadata"]["language_info"].get("version")
                for p in CHAPTERS}
    assert len(versions) == 1, f"chapters disagree: {sorted(map(str, versions))}"
