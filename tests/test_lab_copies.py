"""tools/lab.py: the learner's copies are made once, never overwritten without asking, and git
ignores them; JupyterLab is told to save widget state without losing other overrides, and its
save hook keeps the state of the widgets a notebook shows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tools import lab

ROOT = Path(__file__).resolve().parent.parent


def _notebook(text: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": [text]}]})


def _chapters(tmp_path: Path) -> Path:
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    for name in ("01_a", "02_b"):
        (chapters / f"{name}.ipynb").write_text(_notebook(name))
    return chapters


def test_copies_are_made_once_and_a_learners_copy_is_never_overwritten(tmp_path):
    chapters, mine = _chapters(tmp_path), tmp_path / "mine"
    copied, changed = lab.make_copies(chapters, mine)
    assert copied == ["01_a.ipynb", "02_b.ipynb"] and changed == []
    (mine / "01_a.ipynb").write_text("the learner's work")
    (chapters / "01_a.ipynb").write_text(_notebook("01_a, new version"))  # a git pull
    (chapters / "03_c.ipynb").write_text(_notebook("03_c"))  # a new chapter
    copied, changed = lab.make_copies(chapters, mine)
    assert copied == ["03_c.ipynb"] and changed == ["01_a.ipynb"]
    assert (mine / "01_a.ipynb").read_text() == "the learner's work"


def test_update_asks_and_keeps_the_old_copy(tmp_path):
    chapters, mine = _chapters(tmp_path), tmp_path / "mine"
    lab.make_copies(chapters, mine)
    (mine / "02_b.ipynb").write_text("the learner's work")
    (chapters / "02_b.ipynb").write_text(_notebook("new"))
    assert lab.update_copy("02_b", chapters, mine, ask=lambda _: "n") is None
    assert (mine / "02_b.ipynb").read_text() == "the learner's work"
    kept = lab.update_copy("02_b", chapters, mine, ask=lambda _: "y")
    assert kept.name == "02_b.old-1.ipynb" and kept.read_text() == "the learner's work"
    assert json.loads((mine / "02_b.ipynb").read_text())["cells"][0]["source"] == ["new"]
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


def test_bibliography_gives_author_and_year():
    bibliography = lab.read_bibliography()
    assert bibliography["kingma2014auto"] == "Kingma & Welling, 2014"
    assert bibliography["bishop2006pattern"] == "Bishop, 2006"
    assert bibliography["higgins2017beta"] == "Higgins et al., 2017"
    assert bibliography["sonderby2016ladder"] == "Sønderby et al., 2016"  # {\o} as a letter


def test_copies_show_citations_and_included_code_as_jupyterlab_can():
    """jupyterlab-myst has no bibliography and no files: each copy carries both written out."""
    import inspect
    import textwrap

    from vaelib.models import VAE

    bibliography = lab.read_bibliography()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        notebook = lab.for_jupyterlab(json.loads(path.read_text(encoding="utf-8")), path.parent, bibliography)
        text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
        assert "{cite" not in text and "{literalinclude}" not in text, path.name
        if path.stem == "04_vae":
            assert "(Kingma & Welling, 2014; Rezende et al., 2014)" in text
            code = textwrap.dedent(inspect.getsource(VAE.encode)).rstrip()
            assert f"`VAE.encode` in `vaelib/models.py`:\n\n```python\n{code}\n```" in text


def test_copies_evaluate_the_glued_numbers_in_the_kernel():
    """jupyterlab-myst cannot read myst-nb's glue outputs; the copy asks the kernel instead."""
    cell = {"cell_type": "markdown",
            "source": ["The bound is {glue:text}`test_nll:.2f` nats, {glue:text}`holds`."]}
    copy = lab.for_jupyterlab({"cells": [cell]}, ROOT, {})
    assert "".join(copy["cells"][0]["source"]) == (
        'The bound is {eval}`vaelib.prose.text("test_nll", ".2f")` nats, '
        '{eval}`vaelib.prose.text("holds", "")`.')
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        notebook = lab.for_jupyterlab(json.loads(path.read_text(encoding="utf-8")), path.parent, {})
        text = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
        assert "{glue" not in text, path.name


def test_the_kernel_formats_a_glued_value_as_the_book_does():
    from vaelib import prose

    prose.glue("probe_value", 98.3149)
    prose.glue("probe_words", "on every seed")
    assert repr(prose.text("probe_value", ".2f")) == "98.31"
    assert str(prose.text("probe_words")) == "on every seed"
    assert repr(prose.text("probe_value", ".0%")) == "9831%"


def test_a_literalinclude_of_a_missing_object_is_an_error(tmp_path):
    import pytest

    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    cell = {"cell_type": "markdown", "source": ["```{literalinclude} m.py\n", ":pyobject: g\n", "```"]}
    with pytest.raises(ValueError, match="has no g"):
        lab.for_jupyterlab({"cells": [cell]}, tmp_path, {})


def _shown(model_id: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": [], "execution_count": 1,
            "outputs": [{"output_type": "display_data", "metadata": {},
                         "data": {lab.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                                  "text/plain": ["Explorer"]}}]}


def _with_state(cells: list, state: dict | None) -> dict:
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    if state is not None:
        notebook["metadata"]["widgets"] = {lab.WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": state}}
    return notebook


# a box made of a slider and its layout; "other" belongs to a widget no longer shown
SAVED = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider"]}},
         "slider": {"model_name": "FloatSliderModel", "state": {"layout": "IPY_MODEL_layout"}},
         "layout": {"model_name": "LayoutModel", "state": {}},
         "other": {"model_name": "ButtonModel", "state": {}}}


def test_a_save_without_the_widget_state_gets_it_back_from_the_file_it_replaces():
    new = _with_state([_shown("box")], {})  # what JupyterLab saves after a reopen (ipywidgets#3888)
    carried = lab.carry_widget_state(new, _with_state([_shown("box"), _shown("other")], SAVED))
    assert carried == ["box", "layout", "slider"]  # the widget and the models it is made of
    state = lab.widget_state(new)
    assert set(state["state"]) == {"box", "slider", "layout"} and state["version_major"] == 2
    # a notebook without any widget metadata gets it too
    bare = _with_state([_shown("box")], None)
    assert lab.carry_widget_state(bare, _with_state([_shown("box")], SAVED)) == ["box", "layout", "slider"]


def test_a_saved_state_or_a_cell_run_again_is_left_as_it_is():
    fresh = {"box2": {"model_name": "VBoxModel", "state": {}}}
    new = _with_state([_shown("box2")], fresh)  # the cell ran again: a new widget with its own state
    assert lab.carry_widget_state(new, _with_state([_shown("box")], SAVED)) == []
    assert lab.widget_state(new)["state"] == fresh
    complete = _with_state([_shown("box")], dict(SAVED))
    assert lab.carry_widget_state(complete, _with_state([_shown("box")], {})) == []


class _Manager:
    def __init__(self, root: Path):
        self.root, self.messages = root, []
        self.log = self

    def _get_os_path(self, path: str) -> str:
        return str(self.root / path)

    def info(self, *args):
        self.messages.append(args[0] % args[1:])


def test_the_save_hook_reads_the_file_on_disk_and_never_breaks_a_save(tmp_path):
    manager = _Manager(tmp_path)
    (tmp_path / "ch.ipynb").write_text(json.dumps(_with_state([_shown("box")], SAVED)))
    model = {"type": "notebook", "content": _with_state([_shown("box")], {})}
    lab.keep_widget_state(model=model, path="ch.ipynb", contents_manager=manager)
    assert set(lab.widget_state(model["content"])["state"]) == {"box", "slider", "layout"}
    assert manager.messages == ["kept the saved state of 3 widget model(s) in ch.ipynb"]
    for path, text in (("new.ipynb", None), ("broken.ipynb", "{not json")):
        if text is not None:
            (tmp_path / path).write_text(text)
        model = {"type": "notebook", "content": _with_state([_shown("box")], {})}
        lab.keep_widget_state(model=model, path=path, contents_manager=manager)  # no file, bad file: as saved
        assert lab.widget_state(model["content"])["state"] == {}
    text_file = {"type": "file", "content": "hello"}
    lab.keep_widget_state(model=text_file, path="ch.ipynb", contents_manager=manager)
    assert text_file == {"type": "file", "content": "hello"}


def test_jupyterlab_starts_with_the_save_hook():
    command = lab.jupyterlab_command(Path("my-chapters"), "--no-browser")
    assert "--ContentsManager.pre_save_hook=lab.keep_widget_state" in command and command[-1] == "--no-browser"
    # the hook's import string resolves where the launcher puts tools/ on the path
    script = command[2].replace("from jupyterlab.labapp import main; sys.exit(main())",
                                "import lab; print(lab.keep_widget_state.__name__)")
    out = subprocess.run([command[0], "-c", script], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "keep_widget_state"


def test_a_class_gets_the_student_versions_not_the_solutions(tmp_path):
    """The hand-out as a student meets it: the instructor's `make student` output in student/,
    then `python tools/lab.py --from student` fills my-chapters/ with stubs."""
    import shutil
    import sys

    from coursegrader import write_student_versions

    clone = tmp_path / "clone"
    for name in ("chapters", "tools", "vaelib"):
        shutil.copytree(ROOT / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "book").mkdir()
    shutil.copy2(ROOT / "book" / "references.bib", clone / "book" / "references.bib")
    write_student_versions(clone / "chapters", clone / "student")
    done = subprocess.run([sys.executable, "tools/lab.py", "--from", "student", "--prepare-only"],
                          cwd=clone, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    mine = sorted((clone / "my-chapters").glob("*.ipynb"))
    assert [p.name for p in mine] == sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb"))
    for copy in mine:
        text = copy.read_text()
        assert "BEGIN SOLUTION" not in text and "NotImplementedError" in text, copy.name
        assert "Student version" in text
    missing = subprocess.run([sys.executable, "tools/lab.py", "--from", "nowhere", "--prepare-only"],
                             cwd=clone, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "ask your instructor" in missing.stderr
