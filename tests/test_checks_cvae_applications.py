"""The exercise checks of chapters 7 and 8: reference passes, stub and plausible mistakes get hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vaelib.checks import CheckFailed
from vaelib.checks import applications as app_checks
from vaelib.checks import cvae as cvae_checks


def _stub(*args, **kwargs):
    raise NotImplementedError("write this")


def ref_condition(x, y, num_classes):
    return torch.cat([x.flatten(1), F.one_hot(y.long(), num_classes).to(x.dtype)], dim=1)


def ref_auroc(scores, labels):
    s, t = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[t], s[~t]
    return (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()


def test_reference_solutions_pass():
    assert cvae_checks.check_latent_size_answer("b").passed
    assert cvae_checks.check_condition_inputs(ref_condition).passed
    assert cvae_checks.check_label_swap_experiment({2: 0.95, 20: 0.4}).passed
    assert app_checks.check_auroc_answer("b").passed
    assert app_checks.check_auroc(ref_auroc).passed
    assert app_checks.check_ink_correlation(0.8).passed


@pytest.mark.parametrize("check", [cvae_checks.check_condition_inputs, app_checks.check_auroc])
def test_stubs_are_reported_as_not_written(check):
    result = check(_stub)
    assert not result.passed and "not written yet" in result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda x, y, k: torch.cat([x.flatten(1), y.float().unsqueeze(1)], dim=1), "as one number"),
    (lambda x, y, k: torch.cat([F.one_hot(y, k).float(), x.flatten(1)], dim=1), "other order"),
    (lambda x, y, k: x, "one row per example"),
    (lambda x, y, k: torch.cat([x.flatten(1), F.one_hot(y, k).float() * 2], dim=1), "not the values"),
])
def test_condition_hints(wrong, hint):
    result = cvae_checks.check_condition_inputs(wrong)
    assert not result.passed and hint in result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda s, t: 1 - ref_auroc(s, t), "wrong way round"),
    (lambda s, t: (np.asarray(s)[np.asarray(t)][:, None] > np.asarray(s)[~np.asarray(t)][None, :]).mean(),
     "counts one half"),
    (lambda s, t: 0.5, "average, over all"),
])
def test_auroc_hints(wrong, hint):
    result = app_checks.check_auroc(wrong)
    assert not result.passed and hint in result.message


@pytest.mark.parametrize("value,hint", [
    ({2: 0.9}, "exactly the keys"),
    ({2: 90.0, 20: 40.0}, "fractions"),
    ({2: 0.3, 20: 0.1}, "new* label"),
    ({2: 0.6, 20: 0.7}, "as obedient"),
])
def test_label_swap_hints(value, hint):
    result = cvae_checks.check_label_swap_experiment(value)
    assert not result.passed and hint in result.message


@pytest.mark.parametrize("value,hint", [(-0.8, "not the *negative* ELBO"), (0.1, "weak"), (3.0, "[-1, 1]")])
def test_ink_correlation_hints(value, hint):
    result = app_checks.check_ink_correlation(value)
    assert not result.passed and hint in result.message


def test_multiple_choice_hints():
    assert "reconstruct *better*" in cvae_checks.check_latent_size_answer("a").message
    assert "one letter" in cvae_checks.check_latent_size_answer("z").message
    assert "wrong way round" in app_checks.check_auroc_answer("a").message
    assert "one letter" in app_checks.check_auroc_answer("q").message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("VAELIB_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        app_checks.check_auroc_answer("a")
    assert app_checks.check_auroc_answer("b").passed  # a pass does not raise
