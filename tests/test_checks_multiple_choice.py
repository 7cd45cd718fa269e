"""The shared one-letter check behind every multiple-choice exercise."""

from __future__ import annotations

import pytest

from vaelib.checks import NOT_WRITTEN, multiple_choice
from vaelib.checks.reparameterization import check_discrete_answer
from vaelib.checks.vae import check_bound_order_answer

HINTS = {"a": "not a", "c": "not c", "d": "not d"}


@pytest.mark.parametrize("answer", ["b", "B", " (b) ", "(B)"])
def test_the_right_letter_in_any_spelling_passes(answer):
    result = multiple_choice("q", answer, correct="b", hints=HINTS, success="yes")
    assert result.passed and result.message == "yes"


@pytest.mark.parametrize("answer,message", [("a", "not a"), ("D", "not d"), ("e", "one letter, 'a' to 'd'"),
                                            ("ab", "one letter"), ("", "one letter"), (2, "one letter")])
def test_other_answers_get_their_hint(answer, message):
    result = multiple_choice("q", answer, correct="b", hints=HINTS, success="yes")
    assert not result.passed and message in result.message


@pytest.mark.parametrize("answer", [None, NotImplemented])
def test_an_unanswered_question_is_not_written_yet(answer):
    result = multiple_choice("q", answer, correct="b", hints=HINTS, success="yes")
    assert not result.passed and result.message == NOT_WRITTEN


def test_every_wrong_option_needs_a_hint():
    with pytest.raises(ValueError, match="give a hint for every wrong option"):
        multiple_choice("q", "b", correct="b", hints={"a": "not a"}, success="yes")


def test_chapter_checks_use_it():
    assert check_bound_order_answer("c").passed and not check_bound_order_answer("a").passed
    assert check_discrete_answer("b").passed
    assert "step function" in check_discrete_answer("c").message
    assert check_discrete_answer(NotImplemented).message == NOT_WRITTEN
