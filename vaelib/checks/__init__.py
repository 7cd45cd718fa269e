"""Checks for the exercises: a clear pass, or a fail with a hint that points at the mistake.

Each chapter's checks live in a module of this package (``vaelib.checks.autoencoders`` for
chapter 1, ...). A check takes the learner's function or result, runs it on the CPU in seconds,
and returns a :class:`CheckResult`; it never lets a traceback from the learner's code escape.
An unwritten exercise (a stub that raises ``NotImplementedError``) is reported as such.

With ``VAELIB_STRICT_CHECKS=1`` (set by ``make test`` and ``make book``) a failing check raises
:class:`CheckFailed`, so a broken reference solution fails the build instead of printing a red
line in the book.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from ..runtime import env_flag

__all__ = ["CheckResult", "CheckFailed", "run_check", "multiple_choice", "Hint", "NOT_WRITTEN"]


class CheckFailed(AssertionError):
    """A check failed while ``VAELIB_STRICT_CHECKS`` is on."""


class Hint(Exception):
    """Raised inside a check body to fail with a message for the learner."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one exercise check.

    Attributes:
        name: the check's name, e.g. ``"kl_two_gaussians"``.
        passed: whether the answer is right.
        message: what was verified, or the hint that points at the mistake.
    """

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.name}: {self.message}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "&#10004; passed") if self.passed else ("#b35900", "&#10008; not yet")
        return (
            f'<div class="vaelib-check" style="border-left:4px solid {colour};padding:4px 10px;">'
            f'<b style="color:{colour}">{mark}</b> &mdash; <code>{html.escape(self.name)}</code>: '
            f"{html.escape(self.message)}</div>"
        )


NOT_WRITTEN = ("not written yet: replace the `raise NotImplementedError` with your code, then run "
               "this cell again.")


def run_check(name: str, body: Callable[[], str], *answers: object) -> CheckResult:
    """Run ``body``; its return value is the success message, a :class:`Hint` is the failure.

    Any other exception raised by the learner's code becomes a failure naming the exception, so
    the learner sees a hint instead of a traceback.

    Args:
        name: the check's name, shown with the result and read by the grader.
        body: the check itself.
        answers: the learner's answers; the student version of a notebook sets an unwritten
            answer to ``NotImplemented``, which is reported as not written yet.
    """
    if any(a is NotImplemented for a in answers):
        return _finish(CheckResult(name, False, NOT_WRITTEN))
    try:
        result = CheckResult(name, True, body())
    except Hint as hint:
        result = CheckResult(name, False, str(hint))
    except NotImplementedError:
        result = CheckResult(name, False, NOT_WRITTEN)
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        result = CheckResult(
            name, False, f"your code raised {type(err).__name__}: {err}. Read the message, fix the "
                         "code, and run the cell again.")
    return _finish(result)


def multiple_choice(name: str, answer: object, *, correct: str, hints: dict[str, str], success: str,
                    options: str = "abcd") -> CheckResult:
    """Check a one-letter answer: ``success`` when it is ``correct``, else the hint for that letter.

    Args:
        name: the check's name.
        answer: the learner's letter; "b", "B", " (b) " all read as "b"; None (or
            ``NotImplemented``) is reported as not written yet.
        correct: the right letter.
        hints: for each wrong letter, why it is wrong (and a nudge towards the right one).
        success: why the right letter is right.
        options: the letters offered.
    """
    if set(hints) | {correct} != set(options):
        raise ValueError(f"{name}: give a hint for every wrong option of {options!r}.")

    def body() -> str:
        if answer is None:  # the exercise's placeholder: nothing chosen yet
            raise NotImplementedError
        choice = str(answer).strip().lower().strip("()").strip()
        if len(choice) != 1 or choice not in options:
            raise Hint(f"answer with one letter, {options[0]!r} to {options[-1]!r}.")
        if choice != correct:
            raise Hint(hints[choice])
        return success

    return run_check(name, body, answer)


def _finish(result: CheckResult) -> CheckResult:
    if not result.passed and env_flag("VAELIB_STRICT_CHECKS"):
        raise CheckFailed(str(result))
    return result
