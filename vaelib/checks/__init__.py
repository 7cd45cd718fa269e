"""Checks for the exercises: a clear pass, or a fail with a hint that points at the mistake.

Each chapter's checks live in a module of this package (``vaelib.checks.autoencoders`` for
chapter 1, ...). A check is called with the learner's function or result and returns a
:class:`CheckResult`; it never lets a traceback from the learner's code escape. An unwritten
exercise (a stub that raises ``NotImplementedError``, or an answer left as ``NotImplemented``)
is reported as such.

Every check is a :class:`Check` made of two halves, so that a grader can decide a verdict in its
own process while the learner's code runs in a sandbox:

- the **probe** runs where the learner's code runs. It calls the learner's functions on inputs
  it chooses and returns plain data (:mod:`vaelib.checks.wire`: numbers, strings, lists, dicts;
  tensors via :func:`~vaelib.checks.wire.to_data`). It decides nothing: whatever it returns, even
  if the learner forged it, passes only if it is what a correct answer produces.
- the **judge** is a pure function of that data, run by the trusted grader (and, for instant
  feedback, in the learner's kernel). It rebuilds the inputs from the same seed as the probe,
  computes the reference itself, and returns the success message or raises :class:`Hint`.

Writing a new check::

    def _probe_my_thing(fn) -> dict:
        return {"got": to_data(fn(*_inputs()))}

    def _judge_my_thing(data: dict) -> str:
        got = from_data(data["got"])
        ...                       # compare with the reference computed from _inputs()
        return "what was verified"   # or: raise Hint("what to fix")

    check_my_thing = Check("my_thing", probe=_probe_my_thing, judge=_judge_my_thing,
                           doc="One-line description for the learner.")

Three rules keep a check gradable: (1) the probe returns only JSON-ready data (``to_data`` for
tensors, arrays, dicts, tuples); ``Check.__call__`` sends every outcome through JSON, so a probe
that returns anything else fails in the chapter's own run under ``make test``; (2) the judge
rebuilds its inputs itself and never reads them from the data (a forged input would otherwise be
judged against itself); (3) a probe that calls the learner's code twice records the second call
with :func:`attempt`, which the judge reads with :func:`attempted`. A check made ``seeded=True``
has a probe that takes ``seed=None`` (None: the book's fixed inputs) and returns it as
``data["seed"]``; both sides build the inputs from it, so a grader can draw fresh inputs per
submission. Only ``Check`` objects defined at a module's top level are gradable
(:func:`registry`).

A multiple-choice question is data, a :class:`MultipleChoice`: the right letter, a hint for each
wrong one and the success message; it parses and validates the learner's letter::

    check_my_question = MultipleChoice(
        "my_question", correct="b",
        hints={"a": "why not a", "c": "why not c", "d": "why not d"},
        success="why b", doc="Exercise 'my question': one line for the learner.")

With ``VAELIB_STRICT_CHECKS=1`` (set by ``make test`` and ``make book``) a failing check raises
:class:`CheckFailed`, so a broken reference solution fails the build instead of printing a red
line in the book.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..runtime import env_flag
from .wire import dumps, from_data, loads, to_data

__all__ = ["CheckResult", "CheckFailed", "Check", "MultipleChoice", "Hint", "NOT_WRITTEN", "raised_message",
           "attempt", "attempted", "hint_for_known_mistake"]


class CheckFailed(AssertionError):
    """A check failed while ``VAELIB_STRICT_CHECKS`` is on."""


class Hint(Exception):
    """Raised by a judge (or a probe refusing an answer outright): a failure with a hint."""


def hint_for_known_mistake(value: float, candidates: dict[str, Any], *, rel_tol: float) -> None:
    """Raise the :class:`Hint` of the first known mistake that reproduces the learner's ``value``.

    Args:
        value: the learner's number.
        candidates: ``{hint: what that mistake computes}``, tried in order.
        rel_tol: tolerance relative to ``max(1, |mistake|)``, so small numbers compare absolutely.
    """
    for hint, wrong in candidates.items():
        wrong = float(wrong)
        if abs(value - wrong) < rel_tol * max(1.0, abs(wrong)):
            raise Hint(hint)


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


def raised_message(error_type: str, error: str) -> str:
    """The failure message for an exception the learner's code raised."""
    return (f"your code raised {error_type}: {error}. Read the message, fix the code, and run the "
            "cell again.")


def attempt(fn: Callable[..., Any], *args: Any) -> dict:
    """Call the learner's ``fn`` in a probe for a secondary measurement; an exception becomes data.

    The judge reads the record with :func:`attempted`, which raises the learner's exception as a
    failure only if the judge gets that far (as a single-process check would have).
    """
    try:
        return {"value": to_data(fn(*args))}
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return {"raised": [type(err).__name__, str(err)[:2000]]}


def attempted(record: dict) -> Any:
    """The value recorded by :func:`attempt`, decoded; the learner's exception becomes a failure."""
    if "raised" in record:
        error, message = record["raised"]
        if error == "NotImplementedError":
            raise NotImplementedError
        raise Hint(raised_message(str(error), str(message)))
    return from_data(record["value"])


class Check:
    """An exercise check split into a probe (learner's side) and a judge (trusted side).

    Calling it, ``check(answer, ...)``, runs both in the current process and returns a
    :class:`CheckResult`. A grader instead runs :meth:`collect` in the sandbox, carries the
    returned *outcome* out as JSON, and calls :meth:`decide` on it in its own process.

    Args:
        name: the check's name, shown with the result and used in the grade table.
        probe: ``probe(*answers, **options) -> dict`` of plain data; calls the learner's code,
            lets its exceptions propagate, decides nothing.
        judge: ``judge(data) -> str``, the success message, or raises :class:`Hint`.
        doc: the one-line description shown by ``help(check)``.
        seeded: the probe takes ``seed=`` (None: the check's fixed inputs, as in the book) and
            returns it in its data as ``"seed"``; the judge rebuilds the inputs from
            ``data["seed"]``. A grader draws a fresh seed per submission, so an answer tuned to
            the fixed inputs (a constant copied from the book's output) does not pass.
    """

    def __init__(self, name: str, *, probe: Callable[..., Any], judge: Callable[[Any], str],
                 doc: str = "", seeded: bool = False):
        self.name, self.probe, self.judge, self.seeded = name, probe, judge, seeded
        self.__doc__ = doc

    def __repr__(self) -> str:
        return f"Check({self.name!r})"

    def __call__(self, *answers: Any, **options: Any) -> CheckResult:
        # Through JSON and back, exactly as the grader receives it: a probe that returns more
        # than plain data fails here, in the chapter's own run, not first at grading time.
        outcome = self.collect(*answers, **options)
        try:
            outcome = loads(dumps(outcome))
        except (TypeError, ValueError) as err:
            raise TypeError(f"check {self.name!r}: its probe returned data that is not plain JSON "
                            f"({err}); encode answers with vaelib.checks.wire.to_data.") from None
        return self.decide(outcome)

    def collect(self, *answers: Any, seed: int | None = None, **options: Any) -> dict:
        """Run the probe on the learner's answers; returns the outcome, plain data only.

        ``seed`` (seeded checks only) picks the inputs the learner's functions are called on.

        The outcome is ``{"outcome": "data", "data": ...}``, ``{"outcome": "not written"}`` or
        ``{"outcome": "raised", "error": "ValueError", "message": "..."}``.
        """
        if any(a is NotImplemented for a in answers):
            return {"outcome": "not written"}
        try:
            if self.seeded:
                options["seed"] = seed
            return {"outcome": "data", "data": self.probe(*answers, **options)}
        except NotImplementedError:
            return {"outcome": "not written"}
        except Hint as hint:  # a probe may refuse an answer outright (never accept one)
            return {"outcome": "hint", "message": str(hint)}
        except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
            return {"outcome": "raised", "error": type(err).__name__, "message": str(err)[:2000]}

    def decide(self, outcome: Any, *, seed: int | None = None, strict: bool | None = None) -> CheckResult:
        """Judge an outcome from :meth:`collect` (possibly forged); only the judge can pass it.

        Args:
            outcome: the probe's outcome, as read back from JSON.
            seed: the seed the probe was given (seeded checks); data for other inputs fails.
            strict: raise :class:`CheckFailed` on a failure; default: ``VAELIB_STRICT_CHECKS``.
        """
        kind = outcome.get("outcome") if isinstance(outcome, dict) else None
        data = outcome.get("data") if kind == "data" else None
        if self.seeded and kind == "data" and (not isinstance(data, dict) or data.get("seed") != seed
                                               or type(data.get("seed")) is not type(seed)):
            result = CheckResult(self.name, False, "the answer was computed on other inputs than the "
                                 "ones the check chose; run the check on your own function.")
        elif kind == "data":
            try:
                result = CheckResult(self.name, True, str(self.judge(outcome.get("data"))))
            except Hint as hint:
                result = CheckResult(self.name, False, str(hint))
            except NotImplementedError:
                result = CheckResult(self.name, False, NOT_WRITTEN)
            except Exception as err:  # noqa: BLE001 - malformed data must fail, never crash or pass
                result = CheckResult(self.name, False, f"the answer could not be checked "
                                     f"({type(err).__name__}: {str(err)[:200]}).")
        elif kind == "not written":
            result = CheckResult(self.name, False, NOT_WRITTEN)
        elif kind == "hint":
            result = CheckResult(self.name, False, str(outcome.get("message", ""))[:2000])
        elif kind == "raised":
            result = CheckResult(self.name, False, raised_message(
                str(outcome.get("error", "Exception"))[:100], str(outcome.get("message", ""))[:2000]))
        else:
            result = CheckResult(self.name, False, "no answer reached the grader for this check.")
        return _finish(result, strict)


def _normalise_letter(answer: str) -> str:
    return answer.strip().lower().strip("()").strip()


class MultipleChoice(Check):
    """A one-letter question: ``success`` when the answer is ``correct``, else that letter's hint.

    Args:
        name: the check's name.
        correct: the right letter.
        hints: for each wrong letter, why it is wrong (and a nudge towards the right one).
        success: why the right letter is right.
        options: the letters offered.
        doc: the one-line description.

    The learner's answer may be spelt "b", "B" or " (b) "; ``None`` (the exercise's placeholder)
    and ``NotImplemented`` are reported as not written yet.
    """

    def __init__(self, name: str, *, correct: str, hints: dict[str, str], success: str,
                 options: str = "abcd", doc: str = ""):
        if set(hints) | {correct} != set(options):
            raise ValueError(f"{name}: give a hint for every wrong option of {options!r}.")
        self.correct, self.hints, self.success, self.options = correct, dict(hints), success, options
        super().__init__(name, probe=self._probe, judge=self._judge, doc=doc)

    @staticmethod
    def _probe(answer: object) -> dict:
        if answer is None:
            raise NotImplementedError
        return {"answer": str(answer)[:1000]}

    def _judge(self, data: dict) -> str:
        answer = data["answer"]
        if not isinstance(answer, str):
            raise Hint(f"answer with one letter, {self.options[0]!r} to {self.options[-1]!r}.")
        choice = _normalise_letter(answer)
        if len(choice) != 1 or choice not in self.options:
            raise Hint(f"answer with one letter, {self.options[0]!r} to {self.options[-1]!r}.")
        if choice != self.correct:
            raise Hint(self.hints[choice])
        return self.success


def _finish(result: CheckResult, strict: bool | None = None) -> CheckResult:
    strict = env_flag("VAELIB_STRICT_CHECKS") if strict is None else strict
    if not result.passed and strict:
        raise CheckFailed(str(result))
    return result


def registry() -> dict[str, Check]:
    """Every chapter's checks by the name a notebook calls them with (``check_holes_answer``, ...)."""
    import importlib
    import pkgutil

    found: dict[str, Check] = {}
    # Every module of this package but the data format holds one chapter's checks.
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "data")
    for module in modules:
        for attr, value in vars(importlib.import_module(f"{__name__}.{module}")).items():
            if isinstance(value, Check):
                if attr in found and found[attr] is not value:
                    raise RuntimeError(f"two checks are called {attr}")
                found[attr] = value
    return found
