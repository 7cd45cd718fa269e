"""The exercise checks of chapters 5 and 6: reference passes, stub and plausible mistakes get hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelib.checks import beta_vae as beta_checks
from vaelib.checks import pathologies as path_checks


def _stub(*args, **kwargs):
    raise NotImplementedError("write this")


def _kl_per_dim(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # (B, D)


def ref_free_bits(mu, logvar, free_bits):
    return torch.clamp(_kl_per_dim(mu, logvar).mean(0), min=free_bits).sum()


def ref_mig(mi, entropy):
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


def test_reference_solutions_pass():
    assert path_checks.check_kl_mean_answer("c").passed
    assert path_checks.check_free_bits_kl(ref_free_bits).passed
    assert path_checks.check_cyclical_experiment(
        {"active_units": 12, "informative_dims": 9, "test_elbo": -140.0}).passed
    assert beta_checks.check_duplicate_latent_answer("b").passed
    assert beta_checks.check_mig_from_information(ref_mig).passed
    assert beta_checks.check_rotation_experiment({"mig_codes": 0.3, "mig_rotated": 0.05}).passed


@pytest.mark.parametrize("check", [path_checks.check_free_bits_kl, beta_checks.check_mig_from_information])
def test_stubs_are_reported_as_not_written(check):
    result = check(_stub)
    assert not result.passed and "not written yet" in result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda mu, lv, lam: torch.clamp(_kl_per_dim(mu, lv).sum(1).mean(), min=lam), "each latent dimension"),
    (lambda mu, lv, lam: torch.clamp(_kl_per_dim(mu, lv), min=lam).sum(1).mean(), "each example"),
    (lambda mu, lv, lam: torch.clamp(_kl_per_dim(mu, lv).mean(0), min=lam).mean(), "averaged over the latent"),
    (lambda mu, lv, lam: _kl_per_dim(mu, lv).sum(1).mean(), "plain KL"),
    (lambda mu, lv, lam: torch.clamp(_kl_per_dim(mu, lv).mean(0), max=lam).sum(), "not a ceiling"),
    (lambda mu, lv, lam: torch.clamp(_kl_per_dim(mu, lv).mean(0), min=lam), "one number"),
    (lambda mu, lv, lam: (_kl_per_dim(mu, lv).mean(0)
                          + (lam - _kl_per_dim(mu, lv).mean(0)).clamp(min=0).detach()).sum(),
     "still get a gradient"),
])
def test_free_bits_hints(wrong, hint):
    result = path_checks.check_free_bits_kl(wrong)
    assert not result.passed and hint in result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda mi, h: float(np.mean(np.sort(mi, 0)[::-1][0] - np.sort(mi, 0)[::-1][1])), "entropy"),
    (lambda mi, h: float(np.mean((mi.max(0) - mi.min(0)) / h)), "two *largest*"),
    (lambda mi, h: -ref_mig(mi, h), "sign flipped"),
    (lambda mi, h: float(np.sum((np.sort(mi, 0)[::-1][0] - np.sort(mi, 0)[::-1][1]) / h)), "summed"),
    (lambda mi, h: "0.3x", "one number"),
])
def test_mig_hints(wrong, hint):
    result = beta_checks.check_mig_from_information(wrong)
    assert not result.passed and hint in result.message


def test_multiple_choice_hints():
    assert "784, not by 1/784" in path_checks.check_kl_mean_answer("b").message
    assert "one letter" in path_checks.check_kl_mean_answer("z").message
    assert "gap" in beta_checks.check_duplicate_latent_answer("a").message


def test_experiment_hints():
    assert "exactly the keys" in path_checks.check_cyclical_experiment({"test_elbo": -1.0}).message
    assert "negative" in path_checks.check_cyclical_experiment(
        {"active_units": 3, "informative_dims": 3, "test_elbo": 120.0}).message
    assert "identical" in beta_checks.check_rotation_experiment({"mig_codes": 0.2, "mig_rotated": 0.2}).message
    assert "lower the MIG" in beta_checks.check_rotation_experiment({"mig_codes": 0.1, "mig_rotated": 0.2}).message


def test_strict_mode_raises(monkeypatch):
    from vaelib.checks import CheckFailed
    monkeypatch.setenv("VAELIB_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        path_checks.check_kl_mean_answer("a")
