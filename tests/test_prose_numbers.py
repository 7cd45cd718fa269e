"""The chapters' text states no result that its run did not produce (see tests/prose_numbers.py).

Every number in a chapter's Markdown is glued from the run, a constant of the method written in
the code, a cited figure, a year or a reference, or a fact of the data; the run-time line at the
top of each chapter agrees with the chapter's measured time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import prose_numbers

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CI_TIME = ROOT / "bench" / "results" / "ci_time.json"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_in_the_text_is_tied_to_its_source(chapter):
    untied = prose_numbers.findings(chapter)
    assert not untied, (
        "numbers in the text that nothing ties to the run (glue them with vaelib.prose.glue and "
        "{glue:text}, write them in the code as constants, cite them, or reword):\n"
        + "\n".join(map(str, untied)))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_run_time_line_agrees_with_the_measured_time(chapter):
    claim = prose_numbers.run_time_claims(chapter)
    assert claim is not None, f"{chapter.name} has no '**Run time:** about ...' line"
    stated, line = claim
    measured = json.loads(CI_TIME.read_text())["chapters"][chapter.stem]
    assert measured / 1.5 <= stated <= measured * 1.5, (
        f"{chapter.name} says '{line}' ({stated:.0f} s), but bench/results/ci_time.json measured "
        f"{measured:.0f} s: update the line or re-measure with `python bench/ci_time.py --clone`")


def test_every_glued_name_the_text_quotes_is_glued_by_the_chapter():
    """A static check the book build repeats: a typo in a key would otherwise show an empty value."""
    for chapter in CHAPTERS:
        cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        literal = set(re.findall(r"\bglue\(\s*[\"'](\w+)[\"']", code))
        patterns = [re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(p)) + "$")
                    for p in re.findall(r"\bglue\(\s*f[\"']([^\"']+)[\"']", code)]
        claims = re.findall(r"glue_claim\(\s*[\"']([\w-]+)[\"']", code)
        prefixes = tuple(c.replace("-", "_") + "_" for c in claims)
        patterns += [re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(p.replace("-", "_"))) + r"_\w+$")
                     for p in re.findall(r"glue_claim\(\s*f[\"']([^\"']+)[\"']", code)]
        for cell in cells:
            if cell["cell_type"] != "markdown":
                continue
            for key in re.findall(r"\{glue:text\}`(\w+)", "".join(cell["source"])):
                assert (key in literal or key.startswith(prefixes) or any(p.match(key) for p in patterns)), (
                    f"{chapter.name}: the text quotes {key!r}, which no code cell glues")


def test_a_number_the_checker_must_catch(tmp_path):
    cell = {"cell_type": "markdown", "source": ["The model reached 98.31 nats after training."]}
    notebook = {"cells": [cell, {"cell_type": "code", "source": ["steps = 7000\n"]}]}
    path = tmp_path / "prose-number-probe.ipynb"
    path.write_text(json.dumps(notebook))
    found = prose_numbers.findings(path)
    assert [f.number for f in found] == ["98.31"]


@pytest.mark.parametrize("text", [
    "We train for 7,000 steps.",                   # a constant written in the code
    "The test bound is {glue:text}`nll:.2f` nats.",  # glued
    "Chapter 4 and section 2.3 say so.",          # references
    "NVAE reaches 78.01 nats {cite}`vahdat2020nvae`.",  # cited
    "Kingma and Welling (2014) introduced it.",    # a year
    "MNIST has 60,000 training images of 28 × 28 pixels.",  # facts of the data
    "The formula $\\sigma = 0.37$ is mathematics.",  # maths
])
def test_numbers_with_a_source_pass(tmp_path, text):
    notebook = {"cells": [{"cell_type": "markdown", "source": [text]},
                          {"cell_type": "code", "source": ["steps = 7000\n"]}]}
    path = tmp_path / "probe.ipynb"
    path.write_text(json.dumps(notebook))
    assert prose_numbers.findings(path) == []
