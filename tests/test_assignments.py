"""Student versions and grading, on a small exercise notebook and on the real chapters."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursegrader import (
    SolutionFormatError,
    grade_folder,
    make_student_version,
    paste_back,
    reference_checks,
)

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))



def _exercise(label, title, solution, check, prose="Because."):
    return [
        new_markdown_cell(f"```{{exercise}} {title}\n:label: {label}\n**Difficulty:** ★☆☆\n\nQ?\n```"),
        new_markdown_cell(f"```{{solution-start}} {label}\n:class: dropdown\n```"),
        new_code_cell(solution, metadata={"tags": ["solution"]}),
        new_markdown_cell(f"{prose}\n\n```{{solution-end}}\n```"),
        new_code_cell(check, metadata={"tags": ["check"]}),
    ]


def reference_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nb.cells = [
        new_markdown_cell("# A tiny chapter"),
        new_code_cell("from vaelib.checks import autoencoders as checks\nimport torch.nn.functional as F"),
        *_exercise("ex-holes", "Holes", '### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION',
                   "checks.check_holes_answer(answer)", prose="(b) is right: the loss never looks there."),
        *_exercise("ex-loss", "Loss",
                   'def my_loss(logits, x):\n    "BCE, summed over pixels, batch mean."\n'
                   '    ### BEGIN SOLUTION\n'
                   '    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")\n'
                   '    return per_pixel.flatten(1).sum(1).mean()\n    ### END SOLUTION',
                   "checks.check_reconstruction_loss(my_loss)"),
        *_exercise("ex-size", "Size", "### BEGIN SOLUTION\nerrors = {2: 150.0, 8: 100.0}\n### END SOLUTION",
                   "checks.check_latent_size_experiment(errors)"),
    ]
    return nb


def _run(nb: nbformat.NotebookNode, tmp_path: Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _errors(nb):
    return [(i, o.ename) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def test_student_version_has_stubs_and_no_solutions():
    reference = reference_notebook()
    student = make_student_version(reference)
    text = "\n".join(c.source for c in student.notebook.cells)
    assert "BEGIN SOLUTION" not in text and '"b"' not in text and "reduction=" not in text
    assert "Because." not in text and "never looks there" not in text and "solution-start" not in text
    assert text.count("raise NotImplementedError(") == 3
    assert "answer = NotImplemented" in text and "errors = NotImplemented" in text
    assert 'def my_loss(logits, x):\n    "BCE, summed over pixels, batch mean."\n    raise NotImplementedError' in text
    assert student.exercises == ["ex-holes", "ex-loss", "ex-size"]


def test_student_version_fails_only_at_the_stubs_and_passes_once_pasted_back(tmp_path):
    student = make_student_version(reference_notebook())
    executed = _run(nbformat.from_dict(student.notebook), tmp_path)
    stub_cells = {i for i, c in enumerate(executed.cells) if "solution" in c.metadata.get("tags", [])}
    errors = _errors(executed)
    # only the two top-level stubs raise when run; the function stub raises inside its check
    assert errors and all(name == "NotImplementedError" and i in stub_cells for i, name in errors)
    checks = [c for c in executed.cells if "check" in c.metadata.get("tags", [])]
    assert all("not written yet" in c.outputs[0]["data"]["text/plain"] for c in checks)

    restored = _run(paste_back(student), tmp_path)
    assert _errors(restored) == []
    assert all("[PASSED]" in c.outputs[0]["data"]["text/plain"]
               for c in restored.cells if "check" in c.metadata.get("tags", []))


def test_format_errors_are_reported():
    nb = reference_notebook()
    nb.cells[4].source = 'answer = "b"'  # a solution cell without markers
    with pytest.raises(SolutionFormatError, match="no '### BEGIN SOLUTION' marker"):
        make_student_version(nb)
    nb = reference_notebook()
    nb.cells[5].source = "Because."  # solution-end missing
    with pytest.raises(SolutionFormatError):
        make_student_version(nb)


def _submissions(tmp_path: Path) -> Path:
    reference = reference_notebook()
    student = make_student_version(reference)
    folder = tmp_path / "submitted"
    folder.mkdir()
    nbformat.write(paste_back(student), folder / "a_correct.ipynb")

    partly = paste_back(student)
    for cell in partly.cells:  # a wrong choice, and the experiment left as the stub
        if 'answer = "b"' in cell.source:
            cell.source = 'answer = "a"'
    stub_errors = [s for s in student.solutions if "errors" in s[1]][0]
    partly.cells[stub_errors[0]].source = stub_errors[1]
    nbformat.write(partly, folder / "b_partly.ipynb")

    first_code = next(i for i, c in enumerate(student.notebook.cells) if c.cell_type == "code")
    looping = paste_back(student)
    looping.cells[first_code].source += "\nwhile True:\n    pass"
    nbformat.write(looping, folder / "c_infinite_loop.ipynb")

    crashing = paste_back(student)
    crashing.cells[first_code].source = "import no_such_module_anywhere\n" + crashing.cells[first_code].source
    nbformat.write(crashing, folder / "d_import_error.ipynb")

    deleted = paste_back(student)
    deleted.cells = [c for c in deleted.cells if "check" not in c.metadata.get("tags", [])
                     and "def my_loss" not in c.source]
    nbformat.write(deleted, folder / "e_deleted_cells.ipynb")

    cheating = paste_back(student)
    cheating.cells[first_code].source += "\nchecks.check_latent_size_experiment = lambda e: 'PASSED'"
    nbformat.write(cheating, folder / "f_tampering.ipynb")

    (folder / "g_not_a_notebook.ipynb").write_text("this is not JSON")
    return folder


def test_grading_a_folder(tmp_path, bubblewrap):
    folder = _submissions(tmp_path)
    reference = tmp_path / "ref" / "chapter.ipynb"
    reference.parent.mkdir()
    nbformat.write(reference_notebook(), reference)
    rows = {r.submission: r for r in grade_folder(folder, reference, cell_timeout=30, total_timeout=120)}

    def results(name):
        return [rows[name].results[k] for k in ("ex-holes", "ex-loss", "ex-size")]

    assert results("a_correct.ipynb") == ["pass", "pass", "pass"] and rows["a_correct.ipynb"].status == "ok"
    assert results("b_partly.ipynb") == ["fail", "pass", "fail"]
    assert rows["b_partly.ipynb"].status == "stubs left"
    assert "not written yet" in rows["b_partly.ipynb"].messages["ex-size"]
    assert rows["c_infinite_loop.ipynb"].status == "cell timeout"
    assert rows["d_import_error.ipynb"].status == "errors"
    assert "ModuleNotFoundError" in rows["d_import_error.ipynb"].detail
    # deleted check cells are run anyway; the deleted function makes its check error
    assert results("e_deleted_cells.ipynb") == ["pass", "error", "pass"]
    # tampering is flagged for the instructor (the grader cannot undo what the code did)
    assert rows["f_tampering.ipynb"].flags == ["reassigns a check"]
    assert rows["g_not_a_notebook.ipynb"].status == "unreadable"
    assert results("g_not_a_notebook.ipynb") == ["not run"] * 3

    with open(folder / "grades.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["submission"] for r in table] == sorted(rows)
    assert table[0]["passed"] == "3" and table[0]["total"] == "3"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_has_a_student_version(chapter):
    reference = nbformat.read(chapter, as_version=4)
    student = make_student_version(reference, chapter=chapter.stem)
    assert len(student.exercises) >= 3, "every chapter has at least three exercises"
    assert len(reference_checks(reference)) >= len(student.exercises)
    text = "\n".join(c.source for c in student.notebook.cells)
    assert "### BEGIN SOLUTION" not in text and "{solution-start}" not in text
    # pasting the reference solutions back gives exactly the chapter's code again
    restored = [c.source for c in paste_back(student).cells if c.cell_type == "code"]
    original = [c.source for c in reference.cells if c.cell_type == "code"]
    assert restored == original


def test_the_guide_is_read_from_the_chapters():
    from coursegrader.catalog import guide_markdown, summarize_chapters

    summaries = summarize_chapters(ROOT / "chapters")
    assert summaries, "no chapters found"
    labels = [e.label for s in summaries for e in s.exercises]
    assert len(labels) == len(set(labels)), "exercise labels must be unique across the book"
    for s in summaries:
        assert s.title.startswith("Chapter ") and s.run_time, s.path
        if s.path.suffix == ".ipynb":
            assert len(s.objectives) >= 3 and len(s.exercises) >= 3, s.path
            assert all(e.difficulty and e.time for e in s.exercises)
    text = guide_markdown(summaries)
    assert all(s.title in text for s in summaries) and "| exercise | label |" in text
