"""Predict, then see: the reader commits to an answer before a result, and the page tells them after.

A chapter asks in a code cell placed before a surprising result, and reveals in the cell after it,
with an explanation built from the numbers the run computed::

    predict.ask("ch3-variance", "Which estimator's gradient will vary more?",
                {"a": "the score function's", "b": "the pathwise one's", "c": "neither"})
    ...  # the cell that computes the result
    predict.reveal("ch3-variance", answer="a", explanation=f"... {ratio:.0f} times ...")

Each call returns an object that a notebook displays as a block of HTML and as plain text:

- in the rendered book and in JupyterLab (a trusted output), the question is a ``<fieldset>`` of
  radio buttons; the reader's choice is kept in the page's ``localStorage`` under the prompt's id
  (in memory where storage is blocked), and the reveal further down reads it and says whether it
  was right. Until the reader has chosen, the reveal asks them to choose first and offers a button
  that shows the answer anyway. Each block has a polite live region: the question's says that the
  choice is kept, the reveal's reads out what its button shows (a choice made above updates the
  reveal silently, so a screen reader does not hear the answer pages before the result). The
  script (``predict.js``) travels in the output, as the explorers' does (:mod:`vaelib.page_assets`),
  so no kernel is needed;
- where an output's scripts are stripped (an untrusted notebook), the radio buttons still work and
  the answer sits in a ``<details>`` disclosure;
- as text (nbval, a terminal), the question with its choices, and the answer with its explanation.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Mapping

from . import page_assets as page

__all__ = ["Ask", "Reveal", "ask", "reveal"]

# An id names the prompt in the page's storage and in HTML ids, so it is kept to a plain word.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_KEY = re.compile(r"[A-Za-z0-9]{1,8}")

# The asks made in this kernel, by id: a reveal in a later cell checks its answer against their
# choices and repeats their question. A registry, not a return value to pass along, because ask and reveal sit in separate
# cells and the reveal names its prompt by id, as the page does.
_ASKED: dict[str, Ask] = {}


def _check_id(prompt_id) -> str:
    if not isinstance(prompt_id, str) or not _ID.fullmatch(prompt_id):
        raise ValueError(
            f"The prompt id {prompt_id!r} is not a simple identifier: use a letter followed by letters, "
            "digits, '-' or '_' (at most 64 characters), e.g. 'ch3-variance'.")
    return prompt_id


def _text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"The {name} is empty: write it as a non-empty string.")
    return value.strip()


def _escape(text: str) -> str:
    """Text for an element's content: <, > and & escaped; quotes stay readable in the source."""
    return html.escape(text, quote=False)


def _uid(prompt_id: str) -> str:
    """An HTML id for one displayed block: unique on the page even if a cell is shown twice."""
    return f"vaelib-predict-{prompt_id}-{uuid.uuid4().hex[:8]}"


class Ask:
    """The question before a result (see :func:`ask`). ``html`` is the block the page shows."""

    def __init__(self, prompt_id: str, question: str, choices: dict[str, str]):
        self.id, self.question, self.choices = prompt_id, question, choices
        self.html = self._html()

    def _html(self) -> str:
        uid = _uid(self.id)
        options = "".join(
            f'<div class="vaelib-predict-choice"><input type="radio" name="{uid}" id="{uid}-{key}" value="{key}">'
            f'<label for="{uid}-{key}"><span class="vaelib-predict-key">({key})</span> {_escape(text)}</label></div>'
            for key, text in self.choices.items())
        return "\n".join([
            page.style_tag("predict.css"),
            f'<div class="vaelib-predict vaelib-predict-ask" id="{uid}" data-prompt="{self.id}">',
            f'<fieldset><legend><span class="vaelib-predict-tag">Predict before you read on:</span> '
            f'{_escape(self.question)}</legend>',
            f'<div class="vaelib-predict-choices">{options}</div>',
            # Says the choice is kept, and where the answer is; announced once the reader chooses.
            '<p class="vaelib-predict-status" role="status" aria-live="polite"></p>',
            '</fieldset>',
            page.data_tag({"id": self.id, "choices": self.choices}, "vaelib-predict-data"),
            page.script_tag("predict.js", f'window.vaelibPredict.mount(document.getElementById("{uid}"));'),
            '</div>'])

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": str(self)}

    def __str__(self) -> str:
        lines = [f"Predict before you read on: {self.question}"]
        lines += [f"  ({key}) {text}" for key, text in self.choices.items()]
        lines.append("Pick one (in the book or JupyterLab, above); the answer comes after the result below.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Ask({self.id!r}, {len(self.choices)} choices)"


class Reveal:
    """The answer after the result (see :func:`reveal`). ``html`` is the block the page shows."""

    def __init__(self, prompt_id: str, answer: str, explanation: str, asked: Ask | None):
        self.id, self.answer, self.explanation = prompt_id, answer, explanation
        self.choices = asked.choices if asked else None
        self.question = asked.question if asked else None
        self.html = self._html()

    @property
    def answer_text(self) -> str:
        """"(b) the choice's text", or "(b)" where the ask did not run in this kernel."""
        label = (self.choices or {}).get(self.answer)
        return f"({self.answer}) {label}" if label else f"({self.answer})"

    def _html(self) -> str:
        uid = _uid(self.id)
        data = {"id": self.id, "answer": self.answer, "choices": self.choices}
        return "\n".join([
            page.style_tag("predict.css"),
            f'<div class="vaelib-predict vaelib-predict-reveal" id="{uid}" data-prompt="{self.id}" role="group" '
            f'aria-labelledby="{uid}-title">',
            f'<p class="vaelib-predict-title" id="{uid}-title"><span class="vaelib-predict-tag">Check your '
            f'prediction:</span> {_escape(self.question or "the question above")}</p>',
            '<p class="vaelib-predict-verdict" hidden></p>',
            # A disclosure, so that the answer can be read where the script cannot run (an untrusted
            # notebook); the script turns it into a plain box that it shows and hides itself.
            '<details class="vaelib-predict-answer"><summary>Show the answer</summary>',
            f'<p class="vaelib-predict-solution"><strong>The run\'s answer: {_escape(self.answer_text)}</strong></p>',
            f'<p class="vaelib-predict-explanation">{_escape(self.explanation)}</p>',
            '</details>',
            '<button type="button" class="vaelib-predict-anyway" hidden>Show the answer anyway</button>',
            # Read out what the button shows. A choice made in the question above updates this block
            # silently: announced then, the answer would reach a screen reader before the result.
            '<p class="vaelib-predict-announce" role="status" aria-live="polite" aria-atomic="true"></p>',
            page.data_tag(data, "vaelib-predict-data"),
            page.script_tag("predict.js", f'window.vaelibPredict.mount(document.getElementById("{uid}"));'),
            '</div>'])

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": str(self)}

    def __str__(self) -> str:
        return f"The run's answer: {self.answer_text}\n{self.explanation}"

    def __repr__(self) -> str:
        return f"Reveal({self.id!r}, answer={self.answer!r})"


def ask(prompt_id: str, question: str, choices: Mapping[str, str]) -> Ask:
    """A question the reader answers before the result; display it (last line of a code cell).

    Args:
        prompt_id: names the prompt, in this kernel and in the page's storage: a letter, then
            letters, digits, ``-`` or ``_`` (``"ch3-variance"``); unique across the book.
        question: one plain-text sentence (no Markdown or LaTeX: it is shown as written).
        choices: at least two, key -> text, in the order shown; keys are short letters or digits
            (``{"a": ..., "b": ...}``).

    Returns:
        An :class:`Ask`, shown as radio buttons in HTML and as a list in plain text.

    Raises:
        ValueError: an id that is not a simple identifier, an empty question, fewer than two
            choices, a key that is not 1-8 letters or digits, or an empty choice.
    """
    prompt_id = _check_id(prompt_id)
    question = _text("question", question)
    if not isinstance(choices, Mapping) or len(choices) < 2:
        count = len(choices) if isinstance(choices, Mapping) else f"a {type(choices).__name__}, not a dict"
        raise ValueError(f"A prediction needs at least two choices, as a dict key -> text; got {count}.")
    checked = {}
    for key, text in choices.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"The choice key {key!r} is not 1-8 letters or digits: use keys like 'a', 'b', 'c'.")
        checked[key] = _text(f"text of choice {key!r}", text)
    _ASKED[prompt_id] = asked = Ask(prompt_id, question, checked)
    return asked


def reveal(prompt_id: str, *, answer: str, explanation: str) -> Reveal:
    """The answer to :func:`ask`'s question, after the result; display it (last line of a cell).

    Args:
        prompt_id: the id the ask used.
        answer: the key of the right choice.
        explanation: why, in a sentence or two, with the numbers this run computed (an f-string).

    Returns:
        A :class:`Reveal`: in the page it tells the reader whether their choice was right, or asks
        them to choose first and offers to show the answer anyway; as text, answer and explanation.

    Raises:
        ValueError: an id that is not a simple identifier, an empty explanation, or an answer that
            is not a key of the ask with that id (when that ask ran in this kernel; otherwise a
            key that is not 1-8 letters or digits).
    """
    prompt_id = _check_id(prompt_id)
    explanation = _text("explanation", explanation)
    asked = _ASKED.get(prompt_id)
    if asked is not None and answer not in asked.choices:
        raise ValueError(f"The answer {answer!r} is not a choice of the prediction {prompt_id!r}; "
                         f"its choices are {', '.join(map(repr, asked.choices))}.")
    if asked is None and (not isinstance(answer, str) or not _KEY.fullmatch(answer)):
        raise ValueError(f"The answer {answer!r} is not a choice key (1-8 letters or digits, like 'b').")
    return Reveal(prompt_id, answer, explanation, asked)
