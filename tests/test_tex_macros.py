"""Every TeX command a notebook uses is one MathJax knows, or one that notebook defines itself.

The book's MathJax configuration defines no macros, and neither does JupyterLab's, Colab's or VS
Code's: a formula with an undefined command (``\\KL`` before this test existed) renders as an error
everywhere but in the book. "Known" means known to the copy of MathJax the book ships
(book/_static/mathjax): the command is a key of one of the TeX input's command tables, in
``tex-chtml.js`` or in an extension its autoloader fetches. A notebook may define its own commands
with ``\\newcommand``, ``\\renewcommand``, ``\\def`` or ``\\DeclareMathOperator``.

Scanned: the markdown cells (code spans and fenced blocks left out) and, in code cells, the strings
given to IPython's ``Math``/``Latex``/``Markdown`` and to ``vaelib.symbolic.equation``; also the
book's Markdown pages. Every ``chapters/*.ipynb`` is scanned, whatever its name.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / "book" / "_static" / "mathjax"
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "chapters").glob("*.md"))
# Calls whose string arguments are TeX (or Markdown with TeX) rendered by MathJax.
TEX_CALLS = {"Math", "Latex", "Markdown", "equation"}

COMMAND = re.compile(r"\\([A-Za-z]+)")
DEFINITION = re.compile(
    r"\\(?:newcommand|renewcommand|DeclareMathOperator\*?)\s*\{?\s*\\([A-Za-z]+)|\\def\s*\\([A-Za-z]+)"
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
MAP_START = re.compile(r'Map\)?\("[A-Za-z0-9-]+",')


# --------------------------------------------------------------------------------------------
# What MathJax knows
# --------------------------------------------------------------------------------------------


def _object_keys(text: str, start: int) -> list[str]:
    """Top-level keys of the JavaScript object literal that opens at ``text[start] == "{"``."""
    keys, depth, index, expect_key = [], 0, start, False
    while index < len(text):
        char = text[index]
        if char in "\"'":  # a string literal: skip it, keeping it if it is a key
            end = index + 1
            while text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if depth == 1 and expect_key and text[end + 1:end + 2] == ":":
                keys.append(text[index + 1:end])
            index, expect_key = end + 1, False
            continue
        if char in "{[(":
            depth += 1
            expect_key = depth == 1
        elif char in "}])":
            depth -= 1
            if depth == 0:
                return keys
        elif char == "," and depth == 1:
            expect_key = True
        elif depth == 1 and expect_key and (char.isalpha() or char in "_$"):
            name = re.match(r"[A-Za-z_$][\w$]*", text[index:]).group()
            if text[index + len(name):index + len(name) + 1] == ":":
                keys.append(name)
            index, expect_key = index + len(name), False
            continue
        index += 1
    return keys


@functools.cache
def mathjax_commands() -> frozenset[str]:
    """Names (without the backslash) in the TeX command tables of the book's MathJax."""
    files = [MATHJAX / "tex-chtml.js", *sorted((MATHJAX / "input" / "tex" / "extensions").glob("*.js"))]
    names: set[str] = set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in MAP_START.finditer(text):
            brace = text.find("{", match.end())
            names.update(key.lstrip("\\") for key in _object_keys(text, brace))  # delimiters are keyed "\\\\Vert"
    return frozenset(name for name in names if name.isalpha())


# --------------------------------------------------------------------------------------------
# What a notebook uses and defines
# --------------------------------------------------------------------------------------------


def markdown_tex(text: str) -> str:
    """Markdown without its code: fenced blocks and inline code spans are not TeX."""
    return CODE_SPAN.sub(" ", FENCE.sub(" ", text))


def code_tex(source: str) -> list[str]:
    """The string constants a code cell passes to a TeX-rendering call."""
    # IPython magics and shell escapes are not Python.
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if name in TEX_CALLS:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found += [n.value for n in ast.walk(arg)
                          if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return found


def tex_of_notebook(notebook: dict) -> str:
    parts = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(markdown_tex(source))
        elif cell["cell_type"] == "code":
            parts += code_tex(source)
    return "\n".join(parts)


def undefined_commands(tex: str) -> set[str]:
    """Commands in ``tex`` that MathJax does not know and ``tex`` does not define."""
    defined = {a or b for a, b in DEFINITION.findall(tex)}
    return set(COMMAND.findall(tex)) - mathjax_commands() - defined


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def test_mathjax_command_list_is_sane():
    """The extraction finds the TeX the chapters rely on, and not the course's old macros."""
    known = mathjax_commands()
    assert len(known) > 800, f"only {len(known)} commands found in {MATHJAX}: the file layout changed?"
    for command in ["frac", "mathbb", "mathcal", "mathrm", "operatorname", "left", "Vert", "big",
                    "begin", "boldsymbol", "cancel", "partial", "sum", "log", "newcommand"]:
        assert command in known, command
    for course_macro in ["KL", "E", "N", "ELBO"]:
        assert course_macro not in known, course_macro


def test_scanner_finds_undefined_and_accepts_defined():
    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["$\\KL(q \\| p)$ and $\\mathbb{E}[x]$, `\\n` in code\n"]},
        {"cell_type": "code", "source": ['%matplotlib inline\nequation(r"\\ELBO", 1)\nprint("\\t")']},
    ]}
    assert undefined_commands(tex_of_notebook(notebook)) == {"KL", "ELBO"}
    notebook["cells"].insert(0, {"cell_type": "markdown", "source": [
        "$\\newcommand{\\KL}{\\mathrm{KL}} \\DeclareMathOperator{\\ELBO}{ELBO}$"]})
    assert undefined_commands(tex_of_notebook(notebook)) == set()


def test_every_chapter_is_scanned():
    assert len(NOTEBOOKS) >= 8, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_only_known_or_own_macros(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    missing = ", ".join("\\" + name for name in sorted(undefined_commands(tex_of_notebook(notebook))))
    assert not missing, (
        f"{path.name} uses TeX commands that MathJax does not know and the notebook does not "
        f"define: {missing}. Spell them out (\\mathrm{{KL}}, \\mathbb{{E}}, ...) or define them "
        "in a markdown cell of the notebook with \\newcommand."
    )


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_book_page_uses_only_known_macros(path):
    missing = undefined_commands(markdown_tex(path.read_text(encoding="utf-8")))
    assert not missing, f"{path.name} uses undefined TeX commands: {sorted(missing)}"
