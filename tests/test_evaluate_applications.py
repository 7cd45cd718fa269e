"""AUROC and ROC against hand-computed cases; anomaly scores; the conditional bound; the classifier
and the generated-digit score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vaelib
from vaelib import evaluate
from vaelib.classifier import train_classifier
from vaelib.models import ConditionalVAE


def test_auroc_hand_computed_without_ties():
    # anomalies 0.35, 0.8 against normals 0.1, 0.4: pairs (0.35>0.1), (0.35<0.4), (0.8>0.1), (0.8>0.4)
    assert evaluate.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(3 / 4)


def test_auroc_hand_computed_with_ties():
    # anomalies {2, 3, 2}, normals {1, 2}: wins 1 + 1 + 1, ties 2 x 1/2 (the 2s against 2), losses 0:
    # pairs: (2,1) 1, (2,2) .5, (3,1) 1, (3,2) 1, (2,1) 1, (2,2) .5 -> 5 / 6
    assert evaluate.auroc([1.0, 2.0, 2.0, 3.0, 2.0], [False, False, True, True, True]) == pytest.approx(5 / 6)
    assert evaluate.auroc([1.0, 1.0], [0, 1]) == pytest.approx(0.5)


def test_auroc_extremes_and_sign():
    assert evaluate.auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert evaluate.auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=300), rng.random(300) < 0.3
    assert evaluate.auroc(s, t) + evaluate.auroc(-s, t) == pytest.approx(1.0)


def test_auroc_matches_pair_counting_and_roc_area():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 8, size=200).astype(float)  # many ties
    t = rng.random(200) < 0.4
    pos, neg = s[t], s[~t]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert evaluate.auroc(s, t) == pytest.approx(pairs)
    fpr, tpr, thr = evaluate.roc_curve(torch.from_numpy(s), torch.from_numpy(t))
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and math.isinf(thr[0])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(pairs)


def test_roc_curve_hand_computed():
    fpr, tpr, thr = evaluate.roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr[1:], [0.8, 0.4, 0.35, 0.1])


@pytest.mark.parametrize("scores,labels,match", [
    ([1, 2], [1, 1], "both classes"),
    ([1, 2, 3], [0, 1], "3 scores but 2 labels"),
    ([1, float("nan")], [0, 1], "NaN"),
])
def test_auroc_bad_input(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        evaluate.auroc(scores, labels)


def test_anomaly_scores_shapes_and_kinds():
    torch.manual_seed(0)
    vae = vaelib.VAE(2, hidden=(16,))
    ae = vaelib.Autoencoder(2, hidden=(16,))
    x = torch.bernoulli(torch.full((7, 1, 28, 28), 0.3))
    for score in ("elbo", "importance", "reconstruction"):
        s = evaluate.anomaly_scores(vae, x, score=score, samples=5)
        assert s.shape == (7,) and torch.all(s > 0)
    assert evaluate.anomaly_scores(ae, x, score="reconstruction").shape == (7,)
    with pytest.raises(ValueError, match="unknown"):
        evaluate.anomaly_scores(vae, x, score="nll")


def test_conditional_log_likelihood_bound_tightens():
    torch.manual_seed(0)
    model = ConditionalVAE(2, hidden=(16,))
    x = torch.bernoulli(torch.full((20, 1, 28, 28), 0.3))
    y = torch.arange(20) % 10
    elbo = evaluate.importance_log_likelihood(model, x, y, samples=1)
    iw = evaluate.importance_log_likelihood(model, x, y, samples=200)
    assert elbo.shape == iw.shape == (20,)
    assert iw.mean() > elbo.mean()


class _Oracle(torch.nn.Module):
    """A 'classifier' that reads the label from the pixel the fake generator wrote it into."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.nn.functional.one_hot(x.flatten(1)[:, 0].round().long(), 10).float()


class _FakeGenerator:
    num_classes = 10

    def __init__(self, wrong_every=0):
        self.wrong_every = wrong_every

    def sample(self, labels, generator=None):
        labels = torch.as_tensor(labels).clone()
        if self.wrong_every:
            labels[:: self.wrong_every] = (labels[:: self.wrong_every] + 1) % 10
        x = torch.zeros(len(labels), 1, 2, 2)
        x[:, 0, 0, 0] = labels.float()
        return x


def test_generated_digit_accuracy_counts_agreement():
    perfect = evaluate.generated_digit_accuracy(_FakeGenerator(), _Oracle(), per_class=4)
    assert perfect["accuracy"] == 1.0 and perfect["confusion"].sum() == 40
    half = evaluate.generated_digit_accuracy(_FakeGenerator(wrong_every=2), _Oracle(), per_class=4)
    assert half["accuracy"] == pytest.approx(0.5)
    assert half["confusion"][0, 1] == 2 and half["confusion"][0, 0] == 2


def test_classifier_learns_and_linear_probe_reads_separable_features():
    torch.manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.rand(200, 1, 4, 4) * 0.2
    x[y == 1, :, :2] += 0.7  # class 1: bright top half
    clf, _ = train_classifier(x, y, steps=150, hidden=(16,), batch_size=50, progress=False)
    assert evaluate.accuracy(clf, x, y) > 0.95
    feats = torch.randn(100, 3)
    labels = (feats[:, 0] > 0).long()
    assert evaluate.linear_probe_accuracy(feats[:60], labels[:60], feats[60:], labels[60:]) > 0.9


def test_roc_curves_figure():
    from matplotlib.colors import to_rgba

    from vaelib import plots

    fpr, tpr, _ = evaluate.roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    fig = plots.roc_curves({"score": (fpr, tpr, 0.75), "other": (fpr, tpr)}, title="roc")
    assert to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert fig.axes[0].get_title() == "roc"
    assert any("0.750" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_conditional_bounds_use_the_labels_and_chunk_like_the_unconditional_ones():
    torch.manual_seed(0)
    model = ConditionalVAE(2, hidden=(16,))
    x = torch.bernoulli(torch.full((20, 1, 28, 28), 0.3))
    y = torch.arange(20) % 10
    whole = evaluate.importance_log_likelihood(model, x, y, samples=64, seed=0)
    # 4 samples per chunk: other random draws, the same estimator
    chunked = evaluate.importance_log_likelihood(model, x, y, samples=64, seed=0,
                                                 max_elements=20 * 784 * 4)
    assert abs(float(whole.mean() - chunked.mean())) < 0.5
    other_labels = evaluate.importance_log_likelihood(model, x, (y + 1) % 10, samples=64, seed=0)
    assert not torch.allclose(whole, other_labels)
    terms = evaluate.evaluate_elbo(model, x, y, per_example=True)
    mu, logvar = model.encode(x, y)
    assert torch.allclose(terms["kl"], vaelib.kl_standard_normal(mu, logvar).detach())
    assert float(whole.mean()) > float(terms["elbo"].mean())  # K = 64 is the tighter bound
    with pytest.raises(ValueError, match="20 images but 3 labels"):
        evaluate.importance_log_likelihood(model, x, y[:3], samples=2)
