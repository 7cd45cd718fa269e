"""The shared one-letter check behind every multiple-choice exercise."""

from __future__ import annotations

import pytest

from vaelib.checks import NOT_WRITTEN, MultipleChoice, registry
from vaelib.checks.reparameterization import check_discrete_answer
from vaelib.checks.vae import check_bound_order_answer

HINTS = {"a": "not a", "c": "not c", "d": "not d"}


def _ask(answer, **kwargs):
    return MultipleChoice("q", **{"correct": "b", "hints": HINTS, "success": "yes", **kwargs})(answer)


@pytest.mark.parametrize("answer", ["b", "B", " (b) ", "(B)"])
def test_the_right_letter_in_any_spelling_passes(answer):
    result = _ask(answer)
    assert result.passed and result.message == "yes"


@pytest.mark.parametrize("answer,message", [("a", "not a"), ("D", "not d"), ("e", "one letter, 'a' to 'd'"),
                                            ("ab", "one letter"), ("", "one letter"), (2, "one letter")])
def test_other_answers_get_their_hint(answer, message):
    result = _ask(answer)
    assert not result.passed and message in result.message


@pytest.mark.parametrize("answer", [None, NotImplemented])
def test_an_unanswered_question_is_not_written_yet(answer):
    result = _ask(answer)
    assert not result.passed and result.message == NOT_WRITTEN


def test_every_wrong_option_needs_a_hint():
    with pytest.raises(ValueError, match="give a hint for every wrong option"):
        _ask("b", hints={"a": "not a"})


def test_chapter_checks_use_it():
    assert check_bound_order_answer("c").passed and not check_bound_order_answer("a").passed
    assert check_discrete_answer("b").passed
    assert "step function" in check_discrete_answer("c").message
    assert check_discrete_answer(NotImplemented).message == NOT_WRITTEN


def test_every_letter_question_of_the_chapters_is_a_multiple_choice():
    letter_questions = {"check_holes_answer", "check_encoder_only", "check_discrete_answer",
                        "check_bound_order_answer", "check_kl_mean_answer", "check_duplicate_latent_answer",
                        "check_latent_size_answer", "check_auroc_answer", "check_gan_likelihood_answer"}
    checks = registry()
    assert all(isinstance(checks[name], MultipleChoice) for name in letter_questions)
