"""The ★★★ exercises of chapters 7 and 8: any correct answer passes, each typical mistake gets its
own explanation, and bad answers (wrong shape, wrong type, NaN) get a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vaelib
from vaelib.checks import applications as ch8
from vaelib.checks import cvae as ch7
from vaelib.evaluate import auroc
from vaelib.losses import elbo_per_example, kl_standard_normal_per_dim


def _run(check, answer, seed):
    return check.decide(check.collect(answer, seed=seed), seed=seed, strict=False)


# ------------------------------------------------------------------ chapter 7: a classifier from the CVAE

def _bounds(model, x, labels, *, draws=1, importance=0, plug_in=False, per_pixel=False):
    """(N, labels) bounds on log p(x | y): the ELBO averaged over draws of z, the K-sample bound, or
    the ELBO with z at the posterior mean."""
    n, columns = x.shape[0], []
    with torch.no_grad():
        for k in range(labels):
            y = torch.full((n,), k, dtype=torch.long)
            if importance:
                columns.append(vaelib.importance_log_likelihood(model, x, y, samples=importance, seed=None))
            elif plug_in:
                mu, logvar = model.encode(x, y)
                columns.append(model.log_likelihood(model.decode(mu, y), x) - kl_standard_normal_per_dim(mu, logvar).sum(1))
            else:
                draws_ = [elbo_per_example(model, x, y) for _ in range(draws)]
                columns.append(torch.stack([rec - kl.sum(1) for rec, kl in draws_]).mean(0))
    bounds = torch.stack(columns, dim=1)
    return bounds / x[0].numel() if per_pixel else bounds


def elbo_logsumexp(model, x, prior):
    joint = _bounds(model, x, len(prior)) + prior.log()
    return torch.exp(joint - torch.logsumexp(joint, dim=1, keepdim=True))


def importance_softmax(model, x, prior):
    return torch.softmax(_bounds(model, x, len(prior), importance=10) + prior.log(), dim=1)


def plug_in_mean(model, x, prior):
    return torch.softmax(_bounds(model, x, len(prior), plug_in=True) + prior.log(), dim=1)


def five_draws_float64(model, x, prior):
    joint = _bounds(model, x, len(prior), draws=5).double() + prior.double().log()
    joint = joint - joint.max(dim=1, keepdim=True).values
    return joint.exp() / joint.exp().sum(dim=1, keepdim=True)


@pytest.mark.parametrize("answer", [elbo_logsumexp, importance_softmax, plug_in_mean, five_draws_float64])
@pytest.mark.parametrize("seed", [None, 7])
def test_bayes_classifier_accepts_different_correct_solutions(answer, seed):
    result = _run(ch7.check_bayes_classifier, answer, seed)
    assert result.passed, result.message


def _with(change):
    def fn(model, x, prior):
        return change(_bounds(model, x, len(prior)), prior)
    return fn


@pytest.mark.parametrize("wrong,hint", [
    (_with(lambda b, p: torch.softmax(b, dim=1)), "ignore how common"),
    (_with(lambda b, p: torch.softmax(b + 2 * p.log(), dim=1)), "add log p(y) once"),
    (_with(lambda b, p: torch.softmax(b, dim=1) * p), "not 1"),
    (_with(lambda b, p: torch.softmax(-b + p.log(), dim=1)), "sign is flipped"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=0)), "columns sums to 1"),
    (_with(lambda b, p: (b + p.log()).exp() / (b + p.log()).exp().sum(dim=1, keepdim=True)), "0/0"),
    (_with(lambda b, p: (b + p.log()).exp()), "rows sum to 0"),
    (_with(lambda b, p: torch.log_softmax(b + p.log(), dim=1)), "log-probabilities"),
    (_with(lambda b, p: -b), "above 1"),
    (_with(lambda b, p: b + p.log()), "negative"),
    (lambda m, x, p: torch.softmax(_bounds(m, x, len(p), per_pixel=True) + p.log(), dim=1), "too flat"),
    (_with(lambda b, p: F.one_hot((b + p.log()).argmax(dim=1), len(p)).float()), "0 or 1"),
    (_with(lambda b, p: F.one_hot((b + p.log()).argmax(dim=1), len(p))), "dtype"),
    (lambda m, x, p: p.expand(x.shape[0], len(p)).clone(), "does not depend on x"),
    (lambda m, x, p: torch.softmax(torch.stack([-elbo_per_example(m, x, torch.full((x.shape[0],), k))[1].sum(1)
                                                for k in range(len(p))], dim=1) + p.log(), dim=1), "KL alone"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=1).roll(1, dims=0)), "pick the right label"),
    (_with(lambda b, p: torch.softmax(2 * (b + p.log()), dim=1)), "too sure"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=1).T), "one row per label"),
    (_with(lambda b, p: (b + p.log()).argmax(dim=1)), "one number per image"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=1)[:, :5]), "shape (600, 10)"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=1).tolist()), "not list"),
    (_with(lambda b, p: torch.softmax(b + p.log(), dim=1) * float("nan")), "NaN"),
])
def test_bayes_classifier_explains_each_mistake(wrong, hint):
    result = _run(ch7.check_bayes_classifier, wrong, 13)
    assert not result.passed and hint in result.message, result.message


def test_bayes_world_quadrature_is_the_likelihood_its_bounds_bound():
    world = ch7.bayes_world(3)
    exact = ch7._exact_log_likelihood(world)  # (N, 10)
    x, y = world["x"][:100], world["y"][:100]
    with torch.no_grad():
        iwae = vaelib.importance_log_likelihood(world["model"], x, y, samples=100, seed=0).double()
        elbo = torch.stack([_bounds(world["model"], x, 10)[torch.arange(100), y] for _ in range(5)]).mean(0).double()
    truth = exact[torch.arange(100), y]
    assert (truth - iwae).abs().max() < 0.05  # the K-sample bound with a good encoder reaches log p(x | y)
    assert abs(float((truth - elbo).mean())) < 0.1  # the encoder is nearly the true posterior: a tight ELBO
    posterior = torch.softmax(exact + world["prior"].double().log(), dim=1)
    assert float((posterior.mean(0) - world["prior"]).abs().sum()) < 0.15  # labels drawn from the prior
    assert float(world["prior"].max() / world["prior"].min()) > 10  # unbalanced enough to need the prior
    assert -exact.max(dim=1).values.max() > 120  # exp of a bound is 0 in float32
    again, other = ch7.bayes_world(3), ch7.bayes_world(4)
    assert torch.equal(again["x"], world["x"]) and not torch.equal(other["x"], world["x"])


# ------------------------------------------------------------------ chapter 8: too likely to be normal

def rank_tails(reference, scores):
    reference = reference.sort().values
    below = torch.searchsorted(reference, scores, side="left")
    above = len(reference) - torch.searchsorted(reference, scores, side="right")
    return -torch.log((torch.minimum(below, above) + 1) / (len(reference) + 1))


def distance_to_median(reference, scores):
    return (scores - reference.median()).abs()


def density(reference, scores):  # the negative log of a Gaussian kernel density estimate
    h = 1.06 * reference.std() * len(reference) ** -0.2
    return -torch.logsumexp(-0.5 * ((scores[:, None] - reference[None, :]) / h) ** 2, dim=1)


def z_squared_numpy(reference, scores):
    r, s = reference.numpy(), scores.numpy()
    return ((s - r.mean()) / r.std()) ** 2


@pytest.mark.parametrize("answer", [rank_tails, distance_to_median, density, z_squared_numpy])
@pytest.mark.parametrize("seed", [None, 17])
def test_typicality_score_accepts_different_designs(answer, seed):
    result = _run(ch8.check_typicality_score, answer, seed)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong,hint", [
    (lambda r, s: s, "ranks the too-cheap ones below"),
    (lambda r, s: -s, "watches one side only"),
    (lambda r, s: -distance_to_median(r, s), "sign is flipped"),
    (lambda r, s: (s - s.median()).abs(), "do not change when the reference"),
    (lambda r, s: torch.ones_like(s), "same number"),
    (lambda r, s: distance_to_median(r, s)[:, None], "(flatten it)"),
    (lambda r, s: distance_to_median(r, s)[:10], "one anomaly score per image"),
    (lambda r, s: distance_to_median(r, s).tolist(), "not list"),
    (lambda r, s: distance_to_median(r, s) / 0 * 0, "NaN"),
])
def test_typicality_score_explains_each_mistake(wrong, hint):
    result = _run(ch8.check_typicality_score, wrong, 19)
    assert not result.passed and hint in result.message, result.message


def test_typicality_cases_look_like_the_chapters_scores():
    for seed in (None, 2, 3):
        cases = ch8.typicality_cases(seed)
        for case in cases:
            assert case["reference"].shape == (2000,) and case["scores"].shape == (1000,)
            assert int(case["is_anomaly"].sum()) == 100 and float(case["scores"].min()) > 0  # nats, never negative
        cheap, dear, both = (auroc(c["scores"], c["is_anomaly"]) for c in cases)
        assert cheap < 0.2 and dear > 0.9 and 0.3 < both < 0.7  # the -ELBO fails where the anomalies are cheap
        skew = [float(((c["reference"] - c["reference"].mean()) ** 3).mean() / c["reference"].std() ** 3) for c in cases]
        assert skew[0] > 0.5 and skew[1] > 0.5 and skew[2] < -0.5  # a long tail, on either side
    assert not torch.equal(ch8.typicality_cases(2)[0]["scores"], ch8.typicality_cases(3)[0]["scores"])


# ------------------------------------------------------------------ both

@pytest.mark.parametrize("check,answer", [(ch7.check_bayes_classifier, elbo_logsumexp),
                                          (ch8.check_typicality_score, rank_tails)])
def test_stubs_and_forged_seeds_fail(check, answer):
    def stub(*args):
        raise NotImplementedError

    assert "not written yet" in _run(check, stub, 3).message
    outcome = check.collect(answer, seed=3)
    assert check.decide(outcome, seed=3, strict=False).passed
    assert not check.decide(outcome, seed=4, strict=False).passed  # data for other inputs


def test_typicality_score_reports_an_error_of_the_second_call():
    calls = []

    def fails_on_other_references(reference, scores):
        calls.append(float(reference.median()))
        if len(calls) > 3:
            raise ValueError("only three references expected")
        return rank_tails(reference, scores)

    result = _run(ch8.check_typicality_score, fails_on_other_references, 5)
    assert not result.passed and "ValueError: only three references expected" in result.message
    assert np.isclose(calls[3] - calls[0], 3 * float(np.subtract(*np.quantile(
        ch8.typicality_cases(5)[0]["reference"].numpy(), [0.75, 0.25]))), rtol=1e-4)
