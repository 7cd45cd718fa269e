"""The exercise checks of chapters 1 and 4: reference passes, stub and plausible mistakes get hints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vaelib.checks import CheckFailed
from vaelib.checks import autoencoders as ae_checks
from vaelib.checks import vae as vae_checks


def _stub(*args, **kwargs):
    raise NotImplementedError("write this")


def ref_loss(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def ref_neg_elbo(logits, x, mu, logvar):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return -(rec - kl).mean()


def test_reference_solutions_pass():
    assert ae_checks.check_holes_answer("b").passed
    assert ae_checks.check_reconstruction_loss(ref_loss).passed
    assert ae_checks.check_latent_size_experiment({2: 157.0, 8: 101.0}).passed
    assert vae_checks.check_bound_order_answer("c").passed
    assert vae_checks.check_negative_elbo(ref_neg_elbo).passed
    assert vae_checks.check_importance_sampling_experiment({1: 105.0, 10: 101.0, 100: 99.5}, 105.2).passed


@pytest.mark.parametrize("check", [ae_checks.check_reconstruction_loss, vae_checks.check_negative_elbo])
def test_stubs_are_reported_as_not_written(check):
    result = check(_stub)
    assert not result.passed and "not written yet" in result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda logits, x: F.binary_cross_entropy_with_logits(logits, x), "averaged over the pixels"),
    (lambda logits, x: F.binary_cross_entropy_with_logits(logits, x, reduction="sum"), "summed over the batch"),
    (lambda logits, x: -ref_loss(logits, x), "sign is flipped"),
    (lambda logits, x: ref_loss(torch.sigmoid(logits), x), "sigmoid twice"),
    (lambda logits, x: F.binary_cross_entropy_with_logits(logits, x, reduction="none"), "one number"),
])
def test_reconstruction_loss_hints(wrong, hint):
    result = ae_checks.check_reconstruction_loss(wrong)
    assert not result.passed and hint in result.message


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def _rec(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@pytest.mark.parametrize("wrong,hint", [
    (lambda lo, x, mu, lv: -(_rec(lo, x) + _kl(mu, lv)).mean(), "wrong sign"),
    (lambda lo, x, mu, lv: -(_rec(lo, x) - 2 * _kl(mu, lv)).mean(), "factor 1/2"),
    (lambda lo, x, mu, lv: -(_rec(lo, x) / 784 - _kl(mu, lv)).mean(), "averaged the reconstruction"),
    (lambda lo, x, mu, lv: -(_rec(lo, x) - _kl(mu, lv) / 5).mean(), "averaged the KL"),
    (lambda lo, x, mu, lv: (_rec(lo, x) - _kl(mu, lv)).mean(), "returned the ELBO"),
    (lambda lo, x, mu, lv: -(_rec(lo, x) - _kl(mu, lv)), "one number"),
])
def test_negative_elbo_hints(wrong, hint):
    result = vae_checks.check_negative_elbo(wrong)
    assert not result.passed and hint in result.message


def test_multiple_choice_hints():
    assert "not broken" in ae_checks.check_holes_answer("a").message
    assert "one letter" in ae_checks.check_holes_answer("z").message
    assert "loosest" in vae_checks.check_bound_order_answer("a").message


def test_experiment_hints():
    assert "larger code should reconstruct better" in ae_checks.check_latent_size_experiment({2: 90.0, 8: 120.0}).message
    assert "keys 2 and 8" in ae_checks.check_latent_size_experiment({2: 1.0}).message
    bad_order = vae_checks.check_importance_sampling_experiment({1: 99.0, 10: 101.0, 100: 99.5}, 99.2)
    assert "fall as K grows" in bad_order.message
    log_likelihoods = vae_checks.check_importance_sampling_experiment({1: -105.0, 10: -101.0, 100: -99.5}, 105.0)
    assert "negative log-likelihoods" in log_likelihoods.message


def test_learner_exceptions_become_hints_not_tracebacks():
    result = ae_checks.check_reconstruction_loss(lambda logits, x: logits.view(8, -1) @ x.view(8, -1))
    assert not result.passed and "your code raised RuntimeError" in result.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("VAELIB_STRICT_CHECKS", "1")
    assert ae_checks.check_holes_answer("b").passed
    with pytest.raises(CheckFailed, match="holes"):
        ae_checks.check_holes_answer("a")


@pytest.mark.parametrize("call", [
    lambda: ae_checks.check_holes_answer(NotImplemented),
    lambda: ae_checks.check_latent_size_experiment(NotImplemented),
    lambda: vae_checks.check_importance_sampling_experiment(NotImplemented, NotImplemented),
])
def test_unwritten_values_of_the_student_version_are_reported_as_such(call):
    result = call()
    assert not result.passed and "not written yet" in result.message


def test_result_renders_as_html_and_text():
    result = ae_checks.check_holes_answer("b")
    assert "passed" in result._repr_html_() and str(result).startswith("[PASSED] holes")
