"""Grading the chapters themselves: every check is gradable, no reference raises a flag, and the
reference solutions' functions pass the grader's judges on fresh inputs.

The experiments' answers (numbers from training runs) need the whole chapter; they are judged
through the same JSON round trip in every chapter's own run under ``make notebooks``, where each
check call goes probe -> JSON -> judge exactly as in grading, with strict checks on.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from coursegrader.chapter import flags as _flags
from coursegrader.chapter import probe_specs, reference_checks
from vaelib.checks import registry
from vaelib.checks.wire import dumps, loads

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
_LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)")
PREAMBLE = ("import math\nimport numpy as np\nimport sympy as sp\nimport torch\nimport torch.nn.functional as F\n"
            "from torch import nn\nimport vaelib\nimport vaelib.checks.elbo\n"
            "from vaelib import checks, evaluate, losses, symbolic\n")



def _solutions(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    label, found = "", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _LABEL.search(cell.source):
            label = _LABEL.search(cell.source).group(1)
        elif cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            found.setdefault(label, []).append(cell.source)
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_check_cell_is_gradable_and_no_reference_is_flagged(chapter):
    nb = nbformat.read(chapter, as_version=4)
    specs = probe_specs(reference_checks(nb))
    assert specs and all(s["check"] in registry() for s in specs)
    assert _flags(nb) == [], "the reference solutions must raise no flag"


def test_flags_leave_ordinary_code_alone():
    ordinary = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'model.eval()\nif os.environ["HOME"] == "/root":\n    pass\nx = checks.check_x(answer) == 1\n'
        "print(evaluate(model))")])
    assert _flags(ordinary) == []
    hostile = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'eval("1")\nos.environ["VAELIB_X"] = "1"\nchecks.check_x = print\nchecks._reference_loss(a, b)')])
    assert set(_flags(hostile)) == {"runs generated code", "sets grading variables", "reassigns a check",
                                    "uses the checks' internals"}


def test_reference_solutions_pass_on_fresh_inputs():
    """Each chapter's solution code for a letter or function exercise, run alone, passes the
    grader's judge (seeded checks: on three seeds the book never uses)."""
    judged = 0
    for chapter in CHAPTERS:
        nb = nbformat.read(chapter, as_version=4)
        solutions = _solutions(nb)
        for spec in probe_specs(reference_checks(nb)):
            check = registry()[spec["check"]]
            namespace: dict = {}
            complete = True
            try:  # a solution cell may go on to use the chapter's earlier results after its function
                exec(PREAMBLE + "\n".join(solutions.get(spec["label"], [])), namespace)  # noqa: S102
            except NameError:
                complete = False
            try:
                args = [eval(a, namespace) for a in spec["args"]]  # noqa: S307
            except NameError:
                continue
            if not complete and not all(callable(a) for a in args):
                continue  # an experiment's numbers: judged under nbval, with the whole chapter
            for seed in ((101, 20_000, 3_000_001) if check.seeded else (None,)):
                outcome = loads(dumps(check.collect(*args, seed=seed)))
                result = check.decide(outcome, seed=seed, strict=False)
                assert result.passed, (chapter.stem, spec["label"], seed, result.message)
            judged += 1
    # 9 multiple-choice and 21 function exercises; the 6 experiments need their chapter's run
    assert judged == 32, f"{judged} exercises could be judged from their solution code alone"


def test_solved_copies_are_the_chapter_with_its_solutions(tmp_path):
    from coursegrader.student import write_solved_copies

    chapter = CHAPTERS[0]
    written = write_solved_copies(chapter, tmp_path, 2)
    assert [p.name for p in written] == ["learner_01.ipynb", "learner_02.ipynb"]
    code = [c.source for c in nbformat.read(written[1], as_version=4).cells if c.cell_type == "code"]
    assert code == [c.source for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "code"]


def test_the_plan_says_how_each_exercise_is_graded():
    from coursegrader import load_chapter

    plan = {p.label: p for p in load_chapter(ROOT / "chapters" / "04_vae.ipynb").plan()}
    assert plan["ex-vae-bounds"].kind == "letter answer"
    assert plan["ex-vae-loss"].kind == "your function on fresh inputs" and plan["ex-vae-loss"].uses == []
    assert plan["ex-vae-importance"].kind == "your code on the chapter's run"
    assert plan["ex-vae-importance"].uses == ["vae", "x_test"]  # not its own names (K, subset)
    # a function judged on fresh inputs, though its solution goes on to use the chapter's model
    assert plan["ex-vae-amortization"].kind == "your function on fresh inputs"
    assert plan["ex-vae-amortization"].uses == ["device", "ll_1000", "vae", "x_test"]
    for chapter in CHAPTERS:
        kinds = [p.kind for p in load_chapter(chapter).plan()]
        assert "letter answer" in kinds and len(kinds) >= 3, chapter.stem
