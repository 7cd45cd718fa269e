"""The exercise checks of chapter 9: reference answers pass, stubs and plausible mistakes get hints,
and the judges reject data that did not come from the checks' own inputs."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.checks import CheckFailed, Hint
from vaelib.checks import beyond as checks


def _stub(*args, **kwargs):
    raise NotImplementedError("write this")


def ref_frechet_diagonal(mu1, var1, mu2, var2):
    return ((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum()


def ref_optimal_noise(x_t, alpha_bar, m, s):
    return math.sqrt(1 - alpha_bar) * (x_t - math.sqrt(alpha_bar) * m) / (alpha_bar * s**2 + 1 - alpha_bar)


def test_reference_answers_pass():
    assert checks.check_gan_likelihood_answer("b").passed
    assert checks.check_frechet_diagonal(ref_frechet_diagonal).passed
    assert checks.check_optimal_noise(ref_optimal_noise).passed


def test_stubs_are_reported_as_not_written():
    for result in (checks.check_frechet_diagonal(_stub), checks.check_optimal_noise(_stub),
                   checks.check_gan_likelihood_answer(None)):
        assert not result.passed and "not written" in result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda mu1, v1, mu2, v2: ref_frechet_diagonal(mu1, v1, mu2, v2).sqrt(), "square"),
    (lambda mu1, v1, mu2, v2: ((mu1 - mu2) ** 2).sum() + ((v1 - v2) ** 2).sum(), "standard deviations"),
    (lambda mu1, v1, mu2, v2: ((v1.sqrt() - v2.sqrt()) ** 2).sum(), "means"),
    (lambda mu1, v1, mu2, v2: ref_frechet_diagonal(mu1, v1, mu2, v2) / len(mu1), "averaged"),
    (lambda mu1, v1, mu2, v2: 0.0, "expected"),
])
def test_frechet_mistakes_get_hints(wrong, words):
    result = checks.check_frechet_diagonal(wrong)
    assert not result.passed and words in result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda x, ab, m, s: (x - math.sqrt(ab) * m) / math.sqrt(1 - ab), "as if x_0 were always"),
    (lambda x, ab, m, s: math.sqrt(1 - ab) * (x - math.sqrt(ab) * m) / (ab * s + 1 - ab), "s**2"),
    (lambda x, ab, m, s: -ref_optimal_noise(x, ab, m, s), "sign"),
    (lambda x, ab, m, s: ref_optimal_noise(x, ab, m, s)[:3], "shape"),
    (lambda x, ab, m, s: x * 0, "expected"),
])
def test_optimal_noise_mistakes_get_hints(wrong, words):
    result = checks.check_optimal_noise(wrong)
    assert not result.passed and words in result.message


def test_gan_answer_hints_and_strict_mode(monkeypatch):
    for letter in "acd":
        assert not checks.check_gan_likelihood_answer(letter).passed
    monkeypatch.setenv("VAELIB_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        checks.check_gan_likelihood_answer("a")


def test_judges_recompute_and_reject_forged_data():
    good = checks._probe_optimal_noise(ref_optimal_noise)
    assert "minimiser" in checks._judge_optimal_noise(good)
    forged = {**good, "outputs": [[0.0] * 12 for _ in good["outputs"]]}
    with pytest.raises(Hint):
        checks._judge_optimal_noise(forged)
    moved = {**good, "inputs": {**good["inputs"], "m": 0.0}}
    with pytest.raises(Hint, match="inputs"):
        checks._judge_optimal_noise(moved)
    data = checks._probe_frechet_diagonal(ref_frechet_diagonal)
    assert "closed form" in checks._judge_frechet_diagonal(data)
    data["rows"][2]["got"] += 1.0
    with pytest.raises(Hint):
        checks._judge_frechet_diagonal(data)


def test_probes_return_plain_data():
    import json

    json.dumps(checks._probe_optimal_noise(ref_optimal_noise))
    json.dumps(checks._probe_frechet_diagonal(ref_frechet_diagonal))


def test_optimal_noise_reference_is_the_conditional_mean():
    # Monte Carlo: E[eps | x_t] by regression on samples of (x_0, eps) at one alpha_bar
    gen = torch.Generator().manual_seed(0)
    ab, m, s = 0.3, 1.5, 0.3
    x0 = m + s * torch.randn(400_000, generator=gen, dtype=torch.float64)
    eps = torch.randn(400_000, generator=gen, dtype=torch.float64)
    x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    slope = torch.cov(torch.stack([eps, x_t]))[0, 1] / x_t.var()
    want = checks._optimal_noise_reference(torch.tensor([1.0], dtype=torch.float64), ab, m, s)
    got = slope * (1.0 - x_t.mean())
    assert float(got) == pytest.approx(float(want), abs=0.01)
