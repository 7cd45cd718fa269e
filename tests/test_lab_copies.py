"""tools/lab.py: the learner's copies are made once, never overwritten without asking, and git
ignores them; JupyterLab is told to save widget state without losing other overrides."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tools import lab

ROOT = Path(__file__).resolve().parent.parent


def _chapters(tmp_path: Path) -> Path:
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    for name in ("01_a", "02_b"):
        (chapters / f"{name}.ipynb").write_text(f'{{"chapter": "{name}"}}')
    return chapters


def test_copies_are_made_once_and_a_learners_copy_is_never_overwritten(tmp_path):
    chapters, mine = _chapters(tmp_path), tmp_path / "mine"
    copied, changed = lab.make_copies(chapters, mine)
    assert copied == ["01_a.ipynb", "02_b.ipynb"] and changed == []
    (mine / "01_a.ipynb").write_text("the learner's work")
    (chapters / "01_a.ipynb").write_text('{"chapter": "01_a, new version"}')  # a git pull
    (chapters / "03_c.ipynb").write_text('{"chapter": "03_c"}')  # a new chapter
    copied, changed = lab.make_copies(chapters, mine)
    assert copied == ["03_c.ipynb"] and changed == ["01_a.ipynb"]
    assert (mine / "01_a.ipynb").read_text() == "the learner's work"


def test_update_asks_and_keeps_the_old_copy(tmp_path):
    chapters, mine = _chapters(tmp_path), tmp_path / "mine"
    lab.make_copies(chapters, mine)
    (mine / "02_b.ipynb").write_text("the learner's work")
    (chapters / "02_b.ipynb").write_text("new")
    assert lab.update_copy("02_b", chapters, mine, ask=lambda _: "n") is None
    assert (mine / "02_b.ipynb").read_text() == "the learner's work"
    kept = lab.update_copy("02_b", chapters, mine, ask=lambda _: "y")
    assert kept.name == "02_b.old-1.ipynb" and kept.read_text() == "the learner's work"
    assert (mine / "02_b.ipynb").read_text() == "new"
    assert lab.make_copies(chapters, mine) == ([], [])  # the copy is now of the current chapter


def test_update_of_an_unknown_chapter_names_the_chapters(tmp_path):
    import pytest

    chapters = _chapters(tmp_path)
    with pytest.raises(SystemExit, match="the chapters are: 01_a, 02_b"):
        lab.update_copy("04_vae", chapters, tmp_path / "mine", ask=lambda _: "y")


def test_widget_state_saving_is_merged_into_existing_overrides(tmp_path):
    path = tmp_path / "settings" / "overrides.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                "@jupyter-widgets/jupyterlab-manager:plugin": {"other": 1}}))
    assert lab.save_widget_state(path)
    overrides = json.loads(path.read_text())
    assert overrides["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"] == {"other": 1, "saveState": True}


def test_git_ignores_the_learners_copies():
    ignored = subprocess.run(["git", "check-ignore", "-q", "my-chapters/04_vae.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "add /my-chapters/ to .gitignore"
